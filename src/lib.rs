//! afm-spark: a closed-loop controller that makes AFM fast without losing nanoscale detail — one fast
//! low-resolution frame, a few informative high-resolution patches, a small flow-matching network, and
//! the whole high-resolution image reconstructed.

pub mod backend;
pub mod config;
pub mod device;
pub mod engine;
pub mod eval;
pub mod figures;
pub mod filter;
pub mod folder_lock;
pub mod geo_image;
pub mod ground_truth;
pub mod io;
pub mod level;
pub mod linear_input;
pub mod metrics;
pub mod model;
pub mod offline;
pub mod pipeline;
pub mod plan;
pub mod reconstruct;
pub mod register;
pub mod report;
pub mod select;
pub mod train;
pub mod upsample;
