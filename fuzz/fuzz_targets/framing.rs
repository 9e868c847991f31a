//! Fuzz target: `sightline::fuzzing::framing` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sightline::fuzzing::framing(data));
