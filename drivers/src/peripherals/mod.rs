//! Lab auxiliaries (placeholder during build).
