//! Fuzz target: `sightline::fuzzing::forwarding` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sightline::fuzzing::forwarding(data));
