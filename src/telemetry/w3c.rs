//! W3C Trace Context wire format: parsing `traceparent`, writing `traceparent` and
//! `traceresponse` (Trace Context level 2), without allocating beyond the header value itself.

use http::HeaderValue;

/// The `sampled` bit of the trace flags.
pub(crate) const FLAG_SAMPLED: u8 = 0x01;

/// A parsed `traceparent`: the caller's trace, its span and its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent {
    /// Trace id (never all zero).
    pub trace_id: [u8; 16],
    /// The caller's span id (never all zero).
    pub parent_id: [u8; 8],
    /// Trace flags as sent.
    pub flags: u8,
}

fn hex_val(c: u8) -> Option<u8> {
    // The spec allows lowercase hex only.
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn decode_hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = hex_val(pair[0])? << 4 | hex_val(pair[1])?;
    }
    Some(out)
}

/// Parses one `traceparent` value; `None` when it is malformed (the request then starts a new
/// trace, as the spec asks).
pub(crate) fn parse_traceparent(v: &[u8]) -> Option<TraceParent> {
    // version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55 bytes.
    if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let version = decode_hex::<1>(&v[0..2])?[0];
    if version == 0xff {
        return None;
    }
    // Version 00 is exactly 55 bytes; later versions may append "-..." fields we ignore.
    if (version == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
        return None;
    }
    let trace_id = decode_hex::<16>(&v[3..35])?;
    let parent_id = decode_hex::<8>(&v[36..52])?;
    let flags = decode_hex::<1>(&v[53..55])?[0];
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        flags,
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Both hex digits of every byte value: one load per byte instead of two shifts and two loads
/// (ids are formatted for every request's `traceparent`).
static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [HEX[b >> 4], HEX[b & 0xf]];
        b += 1;
    }
    t
};

fn put_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
}

/// Lowercase hex of an id (for logs and links; not used on the hot path).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    put_hex(&mut out, bytes);
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Writes `00-{trace_id}-{span_id}-{flags}`: the shape of both `traceparent` and `traceresponse`.
pub(crate) fn format_context(trace_id: &[u8; 16], span_id: &[u8; 8], flags: u8) -> HeaderValue {
    let mut buf = [0u8; 55];
    buf[0] = b'0';
    buf[1] = b'0';
    buf[2] = b'-';
    put_hex(&mut buf[3..35], trace_id);
    buf[35] = b'-';
    put_hex(&mut buf[36..52], span_id);
    buf[52] = b'-';
    put_hex(&mut buf[53..55], &[flags]);
    HeaderValue::from_bytes(&buf).expect("hex digits and dashes are valid header bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_spec_example() {
        let tp = parse_traceparent(VALID).unwrap();
        assert_eq!(to_hex(&tp.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(to_hex(&tp.parent_id), "00f067aa0ba902b7");
        assert_eq!(tp.flags, 1);
    }

    #[test]
    fn round_trips_through_format() {
        let tp = parse_traceparent(VALID).unwrap();
        let v = format_context(&tp.trace_id, &tp.parent_id, tp.flags);
        assert_eq!(v.as_bytes(), VALID);
        let all: Vec<u8> = (0..=255).collect();
        let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(to_hex(&all), want);
    }

    #[test]
    fn rejects_malformed_values() {
        let bad: &[&[u8]] = &[
            b"",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ];
        for v in bad {
            assert_eq!(parse_traceparent(v), None, "{}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn accepts_future_versions_with_extra_fields() {
        let v = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(parse_traceparent(v).is_some());
        let v = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x";
        assert!(parse_traceparent(v).is_none());
    }
}
