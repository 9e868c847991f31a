//! Built-in demo origin servers (placeholder).
