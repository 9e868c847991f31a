//! OTLP trace messages (`opentelemetry/proto/trace/v1/trace.proto`, `common/v1/common.proto`,
//! `collector/trace/v1/trace_service.proto`) written straight to protobuf bytes.
//!
//! A sampled request's spans are encoded once, at the end of the request, as the `spans`
//! entries of a `ScopeSpans` ([`EncodedSpans`]); the export task only concatenates them inside
//! the resource and scope that every span shares ([`Envelope`]). Going through the SDK's
//! `SpanData` and opentelemetry-proto's message types instead allocated a `String` per
//! attribute twice over and made prost walk the tree to size it, which cost several times the
//! request's own tracing work.
use super::wire::{self, len_field_len, put_bytes, put_len_prefix, put_uint, varint_len};

mod envelope;
pub(crate) use envelope::encode_sdk_span;
pub use envelope::Envelope;

/// Field numbers, from the `.proto` files named above.
mod field {
    // ExportTraceServiceRequest
    pub const RESOURCE_SPANS: u32 = 1;
    // ResourceSpans
    pub const RESOURCE: u32 = 1;
    pub const SCOPE_SPANS: u32 = 2;
    pub const RESOURCE_SCHEMA_URL: u32 = 3;
    // ScopeSpans
    pub const SCOPE: u32 = 1;
    pub const SPANS: u32 = 2;
    pub const SCOPE_SCHEMA_URL: u32 = 3;
    // Span
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START_TIME: u32 = 7;
    pub const END_TIME: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const STATUS: u32 = 15;
    pub const FLAGS: u32 = 16;
    // Status
    pub const STATUS_MESSAGE: u32 = 2;
    pub const STATUS_CODE: u32 = 3;
    // KeyValue
    pub const KEY: u32 = 1;
    pub const VALUE: u32 = 2;
    // AnyValue
    pub const STRING_VALUE: u32 = 1;
    pub const INT_VALUE: u32 = 3;
}

/// `SpanFlags`: the W3C sampled flag, and whether the parent's remoteness is known and true.
const FLAG_SAMPLED: u32 = 0x01;
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// `Status.code` ERROR.
const STATUS_ERROR: u64 = 2;

/// The spans of one sampled request (or one bridged `tracing` span), encoded as consecutive
/// `spans` fields of an OTLP `ScopeSpans`: ready to be concatenated into an export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSpans {
    trace_id: [u8; 16],
    spans: u32,
    bytes: Vec<u8>,
}

impl EncodedSpans {
    /// The trace all of these spans belong to.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// How many spans the bytes hold.
    pub fn span_count(&self) -> usize {
        self.spans as usize
    }

    /// The encoded `spans` fields.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes of memory the encoding holds (its allocation, not just its length).
    pub fn held_bytes(&self) -> usize {
        self.bytes.capacity() + std::mem::size_of::<Self>()
    }
}

/// `Span.kind` values sightline writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `SPAN_KIND_INTERNAL`.
    Internal = 1,
    /// `SPAN_KIND_SERVER`.
    Server = 2,
    /// `SPAN_KIND_CLIENT`.
    Client = 3,
}

/// `Span.status`: sightline never sets OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status<'a> {
    /// `STATUS_CODE_UNSET`.
    Unset,
    /// `STATUS_CODE_ERROR` with a description (may be empty).
    Error(&'a str),
}

/// Everything about a span but its attributes and status.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanHead<'a> {
    pub span_id: [u8; 8],
    /// `None` for a root span.
    pub parent: Option<[u8; 8]>,
    pub parent_remote: bool,
    pub name: &'a str,
    pub kind: Kind,
    /// Unix nanoseconds.
    pub start: u64,
    pub end: u64,
}

/// Writes the spans of one trace into one buffer.
#[derive(Debug)]
pub(crate) struct TraceWriter<'a> {
    trace_id: [u8; 16],
    /// The W3C `tracestate` header every span carries (empty: none).
    trace_state: &'a str,
    buf: Vec<u8>,
    spans: u32,
}

impl<'a> TraceWriter<'a> {
    /// A writer for spans of `trace_id`, with room for about `capacity` bytes.
    pub fn new(trace_id: [u8; 16], trace_state: &'a str, capacity: usize) -> Self {
        TraceWriter {
            trace_id,
            trace_state,
            buf: Vec::with_capacity(capacity),
            spans: 0,
        }
    }

    /// Starts a span; add its attributes, then [`SpanWriter::end`] it.
    pub fn span(&mut self, head: &SpanHead<'_>) -> SpanWriter<'_> {
        let buf = &mut self.buf;
        let open = wire::open(buf, field::SPANS);
        put_bytes(buf, field::TRACE_ID, &self.trace_id);
        put_bytes(buf, field::SPAN_ID, &head.span_id);
        if !self.trace_state.is_empty() {
            put_bytes(buf, field::TRACE_STATE, self.trace_state.as_bytes());
        }
        if let Some(parent) = &head.parent {
            put_bytes(buf, field::PARENT_SPAN_ID, parent);
        }
        put_bytes(buf, field::NAME, head.name.as_bytes());
        put_uint(buf, field::KIND, head.kind as u64);
        wire::put_fixed64(buf, field::START_TIME, head.start);
        wire::put_fixed64(buf, field::END_TIME, head.end);
        self.spans += 1;
        let mut flags = FLAG_SAMPLED | FLAG_HAS_IS_REMOTE;
        if head.parent_remote {
            flags |= FLAG_IS_REMOTE;
        }
        SpanWriter { buf, open, flags }
    }

    /// The encoded spans.
    pub fn finish(self) -> EncodedSpans {
        EncodedSpans {
            trace_id: self.trace_id,
            spans: self.spans,
            bytes: self.buf,
        }
    }
}

/// An attribute key encoded at compile time ([`attr_key!`]): the `KeyValue.key` field and the
/// key of the `value` field that follows it, so writing an attribute copies one constant block.
#[derive(Debug)]
pub(crate) struct AttrKey<const N: usize>([u8; N]);

impl<const N: usize> AttrKey<N> {
    /// The block for `key` (shorter than 128 bytes; `N` is its length plus 3).
    pub const fn new(key: &str) -> Self {
        let k = key.as_bytes();
        assert!(
            k.len() < 128 && N == k.len() + 3,
            "AttrKey<{{len + 3}}>, len < 128"
        );
        let mut out = [0u8; N];
        out[0] = wire::len_key(field::KEY);
        out[1] = k.len() as u8;
        let mut i = 0;
        while i < k.len() {
            out[2 + i] = k[i];
            i += 1;
        }
        out[N - 1] = wire::len_key(field::VALUE);
        AttrKey(out)
    }
}

/// A `&'static AttrKey` for a string literal, built at compile time.
macro_rules! attr_key {
    ($key:literal) => {{
        const KEY: $crate::telemetry::otel::otlp::AttrKey<{ $key.len() + 3 }> =
            $crate::telemetry::otel::otlp::AttrKey::new($key);
        &KEY
    }};
}
pub(crate) use attr_key;

/// Bytes of a whole string attribute field, `attributes { key, value { string_value } }`.
pub(crate) const fn attr_block_len(key: &str, value: &str) -> usize {
    let any = 1 + varint_len(value.len() as u64) + value.len();
    let kv = key.len() + 3 + varint_len(any as u64) + any;
    1 + varint_len(kv as u64) + kv
}

/// A whole string attribute field encoded at compile time ([`attr_block!`]), for values from a
/// small set (methods, schemes, cache results): one copy instead of framing and two strings.
pub(crate) const fn encode_attr_block<const N: usize>(key: &str, value: &str) -> [u8; N] {
    let (k, v) = (key.as_bytes(), value.as_bytes());
    let any = 2 + v.len();
    let kv = k.len() + 4 + any;
    assert!(
        kv < 128 && N == kv + 2,
        "short attributes only, N from attr_block_len"
    );
    let mut out = [0u8; N];
    out[0] = wire::len_key(field::ATTRIBUTES);
    out[1] = kv as u8;
    out[2] = wire::len_key(field::KEY);
    out[3] = k.len() as u8;
    let mut i = 0;
    while i < k.len() {
        out[4 + i] = k[i];
        i += 1;
    }
    let at = 4 + k.len();
    out[at] = wire::len_key(field::VALUE);
    out[at + 1] = any as u8;
    out[at + 2] = wire::len_key(field::STRING_VALUE);
    out[at + 3] = v.len() as u8;
    let mut i = 0;
    while i < v.len() {
        out[at + 4 + i] = v[i];
        i += 1;
    }
    out
}

/// A `&'static [u8]` string attribute for a literal key and value, built at compile time.
macro_rules! attr_block {
    ($key:literal, $value:literal) => {{
        const BLOCK: [u8; $crate::telemetry::otel::otlp::attr_block_len($key, $value)] =
            $crate::telemetry::otel::otlp::encode_attr_block($key, $value);
        &BLOCK as &'static [u8]
    }};
}
pub(crate) use attr_block;

/// One span being written: attributes in order, then [`SpanWriter::end`].
#[derive(Debug)]
pub(crate) struct SpanWriter<'b> {
    buf: &'b mut Vec<u8>,
    open: wire::Open,
    flags: u32,
}

impl SpanWriter<'_> {
    /// A string attribute.
    #[inline]
    pub fn str<const N: usize>(&mut self, key: &AttrKey<N>, value: &str) {
        let v = value.len();
        self.key_value(key, 1 + varint_len(v as u64) + v);
        self.buf.push(wire::len_key(field::STRING_VALUE));
        wire::put_varint(self.buf, v as u64);
        self.buf.extend_from_slice(value.as_bytes());
    }

    /// An integer attribute.
    #[inline]
    pub fn int<const N: usize>(&mut self, key: &AttrKey<N>, value: i64) {
        // int64 is a varint of the two's complement.
        let v = value as u64;
        self.key_value(key, 1 + varint_len(v));
        put_uint(self.buf, field::INT_VALUE, v);
    }

    /// A whole attribute from [`attr_block!`].
    #[inline]
    pub fn block(&mut self, attribute: &'static [u8]) {
        self.buf.extend_from_slice(attribute);
    }

    /// The `attributes` field key and length, and the attribute key, before an `AnyValue` body
    /// of `any` bytes.
    #[inline]
    fn key_value<const N: usize>(&mut self, key: &AttrKey<N>, any: usize) {
        let kv = N + varint_len(any as u64) + any;
        self.buf.reserve(len_field_len(field::ATTRIBUTES, kv));
        put_len_prefix(self.buf, field::ATTRIBUTES, kv);
        self.buf.extend_from_slice(&key.0);
        wire::put_varint(self.buf, any as u64);
    }

    /// A string attribute holding an IP address in its usual text form. IPv4 is formatted by
    /// hand: `Display` goes through the formatting machinery, several times the cost.
    pub fn ip<const N: usize>(&mut self, key: &AttrKey<N>, ip: std::net::IpAddr) {
        match ip {
            std::net::IpAddr::V4(v4) => {
                let mut text = [0u8; 15];
                let mut n = 0;
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        text[n] = b'.';
                        n += 1;
                    }
                    n += write_decimal(&mut text[n..], u64::from(octet));
                }
                self.str(key, ascii(&text[..n]));
            }
            std::net::IpAddr::V6(_) => self.display(key, ip),
        }
    }

    /// A string attribute holding a number's decimal digits (a status code as `error.type`).
    pub fn decimal<const N: usize>(&mut self, key: &AttrKey<N>, value: u64) {
        let mut text = [0u8; 20];
        let n = write_decimal(&mut text, value);
        self.str(key, ascii(&text[..n]));
    }

    /// A string attribute holding `value`'s `Display` text, formatted on the stack when short.
    pub fn display<const N: usize>(&mut self, key: &AttrKey<N>, value: impl std::fmt::Display) {
        use std::io::Write;
        let mut text = [0u8; 64];
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        if write!(cursor, "{value}").is_ok() {
            let n = cursor.position() as usize;
            if let Ok(s) = std::str::from_utf8(&text[..n]) {
                return self.str(key, s);
            }
        }
        self.str(key, &value.to_string());
    }

    /// Writes the status and flags and closes the span.
    pub fn end(self, status: Status<'_>) {
        match status {
            // prost writes a present but default message as an empty field.
            Status::Unset => put_len_prefix(self.buf, field::STATUS, 0),
            Status::Error(message) => {
                let mut len = 2;
                if !message.is_empty() {
                    len += len_field_len(field::STATUS_MESSAGE, message.len());
                }
                put_len_prefix(self.buf, field::STATUS, len);
                if !message.is_empty() {
                    put_bytes(self.buf, field::STATUS_MESSAGE, message.as_bytes());
                }
                put_uint(self.buf, field::STATUS_CODE, STATUS_ERROR);
            }
        }
        wire::put_fixed32(self.buf, field::FLAGS, self.flags);
        wire::close(self.buf, self.open);
    }
}

/// Writes `v`'s decimal digits at the start of `out`; returns how many.
fn write_decimal(out: &mut [u8], mut v: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        out[i] = digits[n - 1 - i];
    }
    n
}

/// Digits and dots as `&str`.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("digits and dots are ASCII")
}

#[cfg(test)]
mod tests;
