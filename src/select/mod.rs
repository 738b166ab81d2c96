//! Tile selection from the levelled LR frame: the five per-tile indicators, and the farthest-first
//! choice of a few diverse, informative tiles to scan at high resolution (one function for the closed
//! loop and the offline tools: [`select_on_lr`]).

pub mod farthest_first;
pub mod indicators;
pub mod selection;
pub mod strategy;
pub mod tiling;

pub use farthest_first::{farthest_first_scores, select_tiles, SelectionError, SelectionWeights};
pub use indicators::{compute_indicators, IndicatorRow, TextureSpectrum, INDICATOR_NAMES};
pub use selection::{indicator_table, select_on_lr, selection_csv, SelectOptions, TileSelection};
pub use strategy::{pick_tiles, SelectionStrategy};
pub use tiling::Tiling;
