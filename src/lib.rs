//! afm-spark: a closed-loop controller that makes AFM fast without losing nanoscale detail — one fast
//! low-resolution frame, a few informative high-resolution patches, a small flow-matching network, and
//! the whole high-resolution image reconstructed.

pub mod device;
pub mod figures;
pub mod metrics;
pub mod model;
pub mod reconstruct;
pub mod train;
pub mod upsample;
