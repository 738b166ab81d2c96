//! `acquired.json`, written next to every checkpoint `train` makes: which tiles of the HR file were the
//! "acquired" patches and how the LR was placed on the HR grid, so that `reconstruct` pastes the same
//! measured patches back, scores the same unacquired region and builds the same model input.

use super::geometry::LrGeometry;
use super::OfflineError;
use crate::upsample::Interpolation;
use afm_drivers::PixelRect;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the record inside a checkpoint folder.
pub const ACQUIRED_FILE: &str = "acquired.json";

/// The acquired tiles of one trained model and the geometry of its inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquiredTiles {
    /// HR points per line of the training pair.
    pub hr_points: usize,
    /// HR lines of the training pair.
    pub hr_lines: usize,
    /// Tiles per side of the tiling.
    pub grid: usize,
    /// Tile indices in pick order (`n_val` of them, spread over the order, were held out for validation).
    pub tiles: Vec<usize>,
    /// Their pixel rectangles on the HR grid.
    pub rects: Vec<PixelRect>,
    /// Acquired pieces held out for validation by reconstruction.
    pub n_val: usize,
    /// How the LR was placed on the HR grid (never `auto`).
    pub lr_geometry: LrGeometry,
    /// How the LR was brought onto the HR grid as the model input x0.
    pub model_input: Interpolation,
    /// The part of the HR file trained on, when the grid could not tile all of it
    /// ([`super::ImagePair::cut_for_grid`]); `hr_points`, `hr_lines` and `rects` are on that part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hr_crop: Option<PixelRect>,
}

impl AcquiredTiles {
    /// Writes `dir/acquired.json`.
    pub fn write(&self, dir: &Path) -> Result<(), OfflineError> {
        let path = dir.join(ACQUIRED_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| OfflineError::output(&path, e))?;
        std::fs::write(&path, text + "\n").map_err(|e| OfflineError::output(&path, e))
    }

    /// Reads `dir/acquired.json`; `None` when the folder has none (e.g. a closed-loop run's model).
    pub fn read(dir: &Path) -> Result<Option<Self>, OfflineError> {
        let path = dir.join(ACQUIRED_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| OfflineError::Checkpoint { path: path.clone(), why: e.to_string() })?;
        let record: Self = serde_json::from_str(&text).map_err(|e| OfflineError::Checkpoint { path: path.clone(), why: e.to_string() })?;
        if record.tiles.len() != record.rects.len() {
            return Err(OfflineError::Checkpoint {
                path,
                why: format!("{} tiles but {} rectangles", record.tiles.len(), record.rects.len()),
            });
        }
        Ok(Some(record))
    }
}
