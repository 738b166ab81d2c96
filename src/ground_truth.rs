//! The ground truth a reconstruction is scored against, and how it is made comparable: the simulated
//! full HR frame (or the clean surface) of a dry run or replay, or the HR file of an offline pair —
//! levelled exactly like the LR frame, then brought onto the run's own reference (the measured
//! patches) by an offset (heights: separate scans differ by an arbitrary offset) or a gain and offset
//! (other channels), fitted on the acquired pixels, which are known data.

use crate::backend::{sim_config, BackendError};
use crate::config::{GroundTruthKind, RunSpec};
use crate::engine::channel_data;
use crate::level::{align_lines_to, LevelConfig, LevelMode};
use crate::pipeline::Prepared;
use crate::reconstruct::{paste_patches, PasteError};
use crate::register::{fit_gain_offset, GainOffset};
use afm_drivers::ScanRequest;
use afm_sim::{SimulatedAfm, Surface};
use ndarray::Array2;

/// The HR image a simulated run is scored against, on the HR grid, in metres, as the simulator makes
/// it: a full HR frame scanned by a fresh simulator (same surface, physics and seed) **on a stable
/// instrument** — no lateral drift or creep, so every pixel sits where it should: the image the
/// reconstruction should reproduce (tip, feedback, noise, tilt and bow kept) — or the clean surface,
/// as configured. Not levelled: see [`comparable_truth`].
pub fn simulated(spec: &RunSpec, surface: &Surface) -> Result<Array2<f32>, BackendError> {
    let mut config = sim_config(spec);
    config.physics.drift.enabled = false;
    config.physics.creep.enabled = false;
    let sim = SimulatedAfm::new(surface.clone(), config)?;
    match spec.config.simulator.ground_truth {
        GroundTruthKind::Surface => Ok(sim.ground_truth(&spec.hr_region(), &spec.hr_raster())),
        GroundTruthKind::HrScan => {
            let req = ScanRequest {
                region: spec.hr_region(),
                raster: spec.hr_raster(),
                line_rate_hz: spec.config.frame.hr_line_rate_hz,
                channels: vec![spec.config.frame.channel.clone()],
                directions: spec.directions(),
            };
            let frame = sim.scan_blocking(&req)?;
            channel_data(&frame, &spec.config.frame.channel, "ground truth").map_err(|e| BackendError::GroundTruth(e.to_string()))
        }
    }
}

/// `raw` (on `prepared`'s HR grid) levelled like the LR frame and brought onto the measured patches'
/// reference, fitted on the acquired pixels; also returns the fit. Without acquired pixels only the
/// levelling applies. Line offsets (`plane+lines`) are removed against the fair baseline — the LR's
/// own line reference, the same for every method — as the patches' are against the LR: a scan's line
/// offsets are an artifact no reconstruction can know, and line-to-line medians on the truth alone
/// would be fooled by features that span most of a line.
pub fn comparable_truth(raw: &Array2<f32>, prepared: &Prepared, level: &LevelConfig) -> Result<(Array2<f32>, GainOffset), PasteError> {
    let height = prepared.kind.is_height();
    let mode = level.mode_for(height);
    let planar = LevelConfig { mode: Some(if mode == LevelMode::PlaneLines { LevelMode::Plane } else { mode }), ..*level };
    let mut levelled = planar.apply(raw.view(), height).data;
    if mode == LevelMode::PlaneLines {
        levelled = align_lines_to(levelled.view(), prepared.fair.view());
    }
    let mosaic = paste_patches(levelled.view(), &prepared.measured(), 0)?;
    let fit = if !prepared.acquired.iter().any(|&a| a) {
        GainOffset::default()
    } else if prepared.kind.is_height() {
        let (mut sum, mut n) = (0.0f64, 0usize);
        for ((m, t), &a) in mosaic.iter().zip(levelled.iter()).zip(prepared.acquired.iter()) {
            if a {
                sum += *m as f64 - *t as f64;
                n += 1;
            }
        }
        GainOffset { gain: 1.0, offset: sum / n.max(1) as f64 }
    } else {
        fit_gain_offset(levelled.view(), mosaic.view(), prepared.acquired.view())
    };
    Ok((fit.apply(levelled.view()), fit))
}
