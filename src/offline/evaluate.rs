//! The offline front end of the pipeline for an HR/LR file pair: the picked tiles of the HR file are
//! the acquired frames (as the closed loop would have scanned them), the LR is placed on the HR grid by
//! the pair's geometry, and the HR file is the ground truth. After the pipeline's model stage, the
//! scores and the run folder's files are the closed loop's own: plain arrays, `registration.json`,
//! `panels.png` and `metrics.json` (the same report type as a run's).

use super::inputs::ImagePair;
use super::OfflineError;
use crate::geo_image::GeoImage;
use crate::level::LevelConfig;
use crate::pipeline::{score_against, write_outputs, HrFrameInput, ModelOutcome, PipelineInput, Prepared};
use crate::report::{MetricsReport, Timing};
use afm_drivers::PixelRect;
use std::path::Path;

/// The metrics file an evaluation writes.
pub const METRICS_FILE: &str = "metrics.json";

/// The pipeline input of `pair`: its LR (placed by the pair's geometry), the HR grid of its HR file,
/// and the HR file's pixels under `rects` (in pick order) as the acquired frames.
pub fn pair_input(pair: &ImagePair, rects: &[PixelRect], tiles: &[usize]) -> PipelineInput {
    let hr = GeoImage { data: pair.hr.data.clone(), region: pair.hr.region, raster: pair.hr.raster, unit: pair.hr.unit.clone() };
    let lr = GeoImage { data: pair.lr.data.clone(), region: pair.map.src_region, raster: pair.lr.raster, unit: pair.lr.unit.clone() };
    let frames = rects
        .iter()
        .zip(tiles)
        .enumerate()
        .map(|(k, (rect, tile))| HrFrameInput::whole(format!("pick {} (tile {tile})", k + 1), hr.crop(rect), None))
        .collect();
    PipelineInput { lr, channel: pair.hr.channel.clone(), hr_region: pair.hr.region, hr_raster: pair.hr.raster, frames, motion: None, register_on: None }
}

/// Scores `model`'s reconstruction of `prepared` against the HR file of `pair` and writes the run
/// folder's files into `dir` (created if missing). Returns the report written to `dir/metrics.json`.
pub fn score_and_write(
    pair: &ImagePair,
    prepared: &Prepared,
    model: &ModelOutcome,
    level: &LevelConfig,
    seam_px: usize,
    dir: &Path,
) -> Result<MetricsReport, OfflineError> {
    std::fs::create_dir_all(dir).map_err(|e| OfflineError::output(dir, e))?;
    let scored = score_against(prepared, Some(model), &pair.hr.data, level, seam_px)
        .map_err(|e| OfflineError::stage(format!("metrics against {}", pair.hr.path.display()), e))?;
    let outlines: Vec<_> = prepared.measured().iter().map(|m| m.rect).collect();
    let note = [
        ("HR".to_string(), pair.hr.path.display().to_string()),
        ("LR".to_string(), pair.lr.path.display().to_string()),
        ("Geometry".to_string(), pair.describe_geometry()),
        ("Pieces".to_string(), prepared.frames.iter().map(|f| f.label.clone()).collect::<Vec<_>>().join(", ")),
    ];
    write_outputs(dir, None, prepared, Some(model), Some(&scored.truth), &outlines, seam_px, &note)
        .map_err(|e| OfflineError::stage("writing the outputs", e))?;
    let mut report = MetricsReport::new(None, Timing::default());
    report.record(prepared, Some(model), Some(&scored));
    report.timing.total_s = report.timing.train_s + report.timing.reconstruct_s;
    let path = dir.join(METRICS_FILE);
    report.write(&path).map_err(|e| OfflineError::output(&path, e))?;
    Ok(report)
}
