//! Fuzz target: `sightline::fuzzing::config` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sightline::fuzzing::config(data));
