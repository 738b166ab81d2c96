//! What a run's session file holds, for `afm-spark inspect session.h5`: the config identity, the LR
//! frame, the picks, how many patches are journaled of how many planned, and whether a reconstruction
//! and metrics are stored.

use super::OfflineError;
use crate::config::RunSpec;
use crate::io::session::{Session, SESSION_FORMAT};
use afm_drivers::{Raster, ScanRegion};
use hdf5::types::VarLenUnicode;
use std::path::{Path, PathBuf};

/// Reconstruction arrays a run stores, in the order they are listed.
const ARRAY_NAMES: [&str; 6] = ["sr", "sr_unpasted", "bicubic", "acquired_mask", "ground_truth", "lr"];

/// Whether `path` is an HDF5 file whose root attribute `format` says it is an afm-spark session (any
/// version). False for anything else, including unreadable files.
pub fn is_session_file(path: &Path) -> bool {
    if !matches!(crate::io::detect_format(path), Ok(crate::io::FileFormat::Nsid)) {
        return false;
    }
    let Ok(file) = hdf5::File::open(path) else { return false };
    file.attr("format").and_then(|a| a.read_scalar::<VarLenUnicode>()).is_ok_and(|v| v.as_str() == SESSION_FORMAT)
}

/// The LR frame as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct LrSummary {
    /// Its raster.
    pub raster: Raster,
    /// Its region.
    pub region: ScanRegion,
    /// Line rate, lines per second.
    pub line_rate_hz: f64,
    /// Channel labels.
    pub channels: Vec<String>,
    /// Instrument time it took, seconds.
    pub instrument_time_s: f64,
}

/// A summary of a session file.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// The file.
    pub path: PathBuf,
    /// Hash of the run configuration.
    pub config_hash: String,
    /// `[run] name`, when the stored config parses.
    pub run_name: Option<String>,
    /// Tiles per side, when the stored config parses.
    pub grid: Option<usize>,
    /// Patches the plan acquires, from the stored config (or the picks when it does not parse).
    pub planned_patches: Option<usize>,
    /// Why the stored config did not parse, if it did not.
    pub config_problem: Option<String>,
    /// The LR frame, if journaled.
    pub lr: Option<LrSummary>,
    /// Tile indices in pick order, if the selection is journaled.
    pub picks: Option<Vec<usize>>,
    /// Tile indices of the journaled patches, in pick order.
    pub journaled_tiles: Vec<usize>,
    /// Stored reconstruction arrays: name and (lines, points).
    pub arrays: Vec<(String, (usize, usize))>,
    /// Where the run wrote its checkpoint, if recorded.
    pub checkpoint_path: Option<String>,
    /// The stored metrics JSON, if any.
    pub metrics: Option<serde_json::Value>,
}

impl SessionSummary {
    /// Reads the summary of a session file.
    pub fn read(path: &Path) -> Result<Self, OfflineError> {
        let session = Session::open(path)?;
        let (run_name, grid, planned_patches, config_problem) = match RunSpec::from_toml(&session.config_toml()?, path) {
            Ok(spec) => (Some(spec.config.run.name.clone()), Some(spec.config.select.grid), Some(spec.n_patches()), None),
            Err(e) => (None, None, None, Some(e.to_string())),
        };
        let lr = session.lr()?.map(|f| LrSummary {
            raster: f.raster,
            region: f.region,
            line_rate_hz: f.line_rate_hz,
            channels: f.channels.iter().map(|c| c.label()).collect(),
            instrument_time_s: f.instrument_time_s,
        });
        let picks = session.selection()?.map(|s| s.picks);
        let journaled_tiles = session.patches()?.iter().map(|p| p.tile_index).collect();
        let mut arrays = Vec::new();
        for name in ARRAY_NAMES {
            if let Some(a) = session.array(name)? {
                arrays.push((name.to_string(), a.dim()));
            }
        }
        let metrics = match session.metrics()? {
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| OfflineError::Checkpoint { path: path.to_path_buf(), why: format!("/metrics is not valid JSON: {e}") })?,
            ),
            None => None,
        };
        let planned_patches = planned_patches.or(picks.as_ref().map(Vec::len));
        Ok(Self {
            path: path.to_path_buf(),
            config_hash: session.config_hash()?,
            run_name,
            grid,
            planned_patches,
            config_problem,
            lr,
            picks,
            journaled_tiles,
            arrays,
            checkpoint_path: checkpoint_path(path),
            metrics,
        })
    }
}

fn checkpoint_path(path: &Path) -> Option<String> {
    let file = hdf5::File::open(path).ok()?;
    let model = file.group("model").ok()?;
    let value = model.attr("checkpoint_path").ok()?.read_scalar::<VarLenUnicode>().ok()?;
    Some(value.as_str().to_string())
}
