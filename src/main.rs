//! The `sightline` binary (placeholder).
fn main() {}
