//! The Protocol Buffers wire format, only as much of it as span export writes: varints, field
//! keys, fixed-width integers, and length-delimited fields whose length is patched in once
//! their body is written. Plain byte pushing into a `Vec<u8>`; the OTLP schema is in
//! [`super::otlp`].
//!
//! Fields are written in field-number order, as prost writes them, so encoded messages compare
//! byte for byte with prost's in the tests.

/// Wire type of varint fields (`int64`, `uint32`, enums).
const VARINT: u8 = 0;
/// Wire type of `fixed64` fields.
const FIXED64: u8 = 1;
/// Wire type of length-delimited fields (strings, bytes, sub-messages).
const LEN: u8 = 2;
/// Wire type of `fixed32` fields.
const FIXED32: u8 = 5;

/// Bytes kept for the length of an [`open`] field: bodies of 128 to 16,383 bytes (a span) need
/// no move when closed.
const RESERVED: usize = 2;

/// Bytes the varint encoding of `v` takes (1 to 10).
#[inline]
pub(crate) const fn varint_len(v: u64) -> usize {
    // Bits needed (at least one), seven per byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `v` as a varint.
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Writes `v` as a varint over `out`, which is exactly `varint_len(v)` bytes long.
fn write_varint(out: &mut [u8], mut v: u64) {
    let last = out.len() - 1;
    for b in &mut out[..last] {
        *b = v as u8 | 0x80;
        v >>= 7;
    }
    out[last] = v as u8;
}

/// Bytes a field key takes.
#[inline]
pub(crate) fn key_len(field: u32) -> usize {
    varint_len(u64::from(field) << 3)
}

/// The one-byte key of a length-delimited field numbered 1 to 15, for keys built at compile time.
pub(crate) const fn len_key(field: u32) -> u8 {
    assert!(field >= 1 && field <= 15, "one-byte keys only");
    (field << 3) as u8 | LEN
}

#[inline]
fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, u64::from(field) << 3 | u64::from(wire));
}

/// Bytes a length-delimited field with a `len`-byte body takes, key included.
#[inline]
pub(crate) fn len_field_len(field: u32, len: usize) -> usize {
    key_len(field) + varint_len(len as u64) + len
}

/// Appends the key and length of a length-delimited field whose `len`-byte body follows.
#[inline]
pub(crate) fn put_len_prefix(buf: &mut Vec<u8>, field: u32, len: usize) {
    put_key(buf, field, LEN);
    put_varint(buf, len as u64);
}

/// Appends a `bytes` or `string` field (even when empty: callers skip proto3 defaults).
#[inline]
pub(crate) fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_len_prefix(buf, field, bytes.len());
    buf.extend_from_slice(bytes);
}

/// Appends a varint field (`int64` as two's complement, as the format wants).
#[inline]
pub(crate) fn put_uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, VARINT);
    put_varint(buf, v);
}

/// Appends a `fixed64` field.
#[inline]
pub(crate) fn put_fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `fixed32` field.
#[inline]
pub(crate) fn put_fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    put_key(buf, field, FIXED32);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// A length-delimited field being written; [`close`] it once its body is in the buffer.
#[must_use = "an open field must be closed"]
#[derive(Debug)]
pub(crate) struct Open {
    /// Where the reserved length bytes start.
    at: usize,
}

/// Starts a length-delimited field whose body is written next (its length is not known yet).
pub(crate) fn open(buf: &mut Vec<u8>, field: u32) -> Open {
    put_key(buf, field, LEN);
    let at = buf.len();
    buf.extend_from_slice(&[0; RESERVED]);
    Open { at }
}

/// Ends a field from [`open`]: writes its length, moving the body when the length needs more
/// or fewer bytes than were reserved.
pub(crate) fn close(buf: &mut Vec<u8>, open: Open) {
    let body = open.at + RESERVED;
    let len = buf.len() - body;
    let need = varint_len(len as u64);
    if need < RESERVED {
        buf.copy_within(body.., open.at + need);
        buf.truncate(buf.len() - (RESERVED - need));
    } else if need > RESERVED {
        let extra = need - RESERVED;
        buf.resize(buf.len() + extra, 0);
        buf.copy_within(body..body + len, body + extra);
    }
    write_varint(&mut buf[open.at..open.at + need], len as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::encoding::encode_varint;

    #[test]
    fn varints_match_prost() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            put_varint(&mut ours, v);
            let mut theirs = Vec::new();
            encode_varint(v, &mut theirs);
            assert_eq!(ours, theirs, "{v}");
            assert_eq!(varint_len(v), theirs.len(), "{v}");
        }
    }

    /// An opened field closed around a body of `n` bytes is key, varint length, body.
    #[test]
    fn closing_moves_the_body_to_fit_its_length() {
        for n in [0usize, 1, 127, 128, 16_383, 16_384, 70_000] {
            let body: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut buf = vec![0xee];
            let f = open(&mut buf, 9);
            buf.extend_from_slice(&body);
            close(&mut buf, f);
            let mut want = vec![0xee];
            put_bytes(&mut want, 9, &body);
            assert_eq!(buf, want, "body of {n} bytes");
            assert_eq!(buf.len() - 1, len_field_len(9, n));
        }
    }

    #[test]
    fn keys_of_high_field_numbers_take_two_bytes() {
        let mut buf = Vec::new();
        put_fixed32(&mut buf, 16, 0x101);
        assert_eq!(buf, [0x85, 0x01, 0x01, 0x01, 0, 0]);
        assert_eq!(key_len(16), 2);
        assert_eq!(key_len(15), 1);
    }
}
