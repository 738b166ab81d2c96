//! Tile selection from the LR frame: the five per-tile indicators, and the farthest-first choice of a
//! few diverse, informative tiles to scan at high resolution.

pub mod farthest_first;
pub mod indicators;
pub mod strategy;
pub mod tiling;

pub use farthest_first::{select_tiles, SelectionError, SelectionWeights};
pub use indicators::{compute_indicators, IndicatorRow, TextureSpectrum, INDICATOR_NAMES};
pub use strategy::{pick_tiles, SelectionStrategy};
pub use tiling::Tiling;
