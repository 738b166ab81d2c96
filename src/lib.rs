//! afm-spark: a closed-loop controller that makes AFM fast without losing nanoscale detail — one fast
//! low-resolution frame, a few informative high-resolution patches, a small flow-matching network, and
//! the whole high-resolution image reconstructed.

pub mod backend;
pub mod config;
pub mod engine;
pub mod io;
pub mod plan;
pub mod report;
pub mod select;
pub mod upsample;
