//! `sightline top` (placeholder, filled below).
