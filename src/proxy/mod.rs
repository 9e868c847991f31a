//! The request path (placeholder).
