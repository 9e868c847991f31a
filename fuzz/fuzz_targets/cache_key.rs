//! Fuzz target: `sightline::fuzzing::cache_key` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sightline::fuzzing::cache_key(data));
