//! File formats: the session file (HDF5).
pub mod session;
