//! Fuzz target: `sightline::fuzzing::traceparent` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sightline::fuzzing::traceparent(data));
