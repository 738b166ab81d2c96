//! The run folder's `live.png`, refreshed while a run goes on: the levelled LR frame with the picks
//! made so far, and the HR grid as it stands, the LR (nearest, at its physical positions, levelled)
//! with every patch measured so far pasted in (each patch levelled and offset to the LR under it), and,
//! when training runs during acquisition, the training worker's latest reconstruction.

use super::acquire::channel_data;
use super::worker_link::LatestReconstruction;
use crate::config::RunSpec;
use crate::figures::{image_row_png_with, Colormap, FigureError, ImagePanel, PanelScale, RowOptions};
use crate::io::session::PatchRecord;
use crate::pipeline::ChannelKind;
use crate::plan::AcquisitionPlan;
use crate::upsample::{GridMap, Interpolation};
use afm_drivers::{Frame, PixelRect};
use ndarray::{s, Array2};
use std::path::Path;

/// The live view's file name in the run folder.
pub const LIVE_FILE: &str = "live.png";

/// Pastes `patch` into `image` at `rect` (clipped to both), shifted so that its mean matches the mean
/// of the pixels it replaces.
fn paste_offset_matched(image: &mut Array2<f32>, patch: &Array2<f32>, rect: &PixelRect) {
    let (lines, points) = image.dim();
    let rows = rect.rows.min(patch.nrows()).min(lines.saturating_sub(rect.row));
    let cols = rect.cols.min(patch.ncols()).min(points.saturating_sub(rect.col));
    if rows == 0 || cols == 0 {
        return;
    }
    let mut target = image.slice_mut(s![rect.row..rect.row + rows, rect.col..rect.col + cols]);
    let source = patch.slice(s![..rows, ..cols]);
    let offset = target.mean().unwrap_or(0.0) - source.mean().unwrap_or(0.0);
    target.zip_mut_with(&source, |t, &p| *t = p + offset);
}

/// Writes `dir/live.png` for the LR frame `lr` on `plan`'s HR grid and the patches measured so far
/// (`picks_so_far` are their HR-grid rectangles in pick order), with the `latest` reconstruction
/// beside them when there is one (of the HR grid's shape).
pub fn write_live_view(
    dir: &Path,
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    lr: &Frame,
    picks_so_far: &[PixelRect],
    patches: &[PatchRecord],
    latest: Option<&LatestReconstruction>,
) -> Result<(), FigureError> {
    let frame = &spec.config.frame;
    let channel = &frame.channel;
    let height = ChannelKind::of(channel).is_height();
    let Ok(lr_data) = channel_data(lr, channel, "LR frame") else {
        return Err(FigureError::Empty("the LR frame lacks the run's channel"));
    };
    let unit = lr.channel_any(channel).map_or_else(|| "m".to_string(), |c| c.unit.clone());
    let level = spec.config.level;
    let lr_levelled = level.apply(lr_data.view(), height).data;
    let onto_hr = GridMap { src_region: lr.region, src_raster: lr.raster, dst_region: plan.hr_region, dst_raster: plan.hr_raster };
    let Ok(mut current) = onto_hr.resample(lr_levelled.view(), Interpolation::Nearest) else {
        return Err(FigureError::Empty("the LR frame cannot be placed on the HR grid"));
    };
    let lr_panel = current.clone();
    for p in patches {
        if let Ok(data) = channel_data(&p.frame, channel, "patch") {
            paste_offset_matched(&mut current, &level.apply(data.view(), height).data, &p.rect);
        }
    }
    let n_picks = spec.n_patches();
    let mut panels = vec![
        ImagePanel {
            title: format!("LR (levelled), {} of {n_picks} picks", picks_so_far.len()),
            data: lr_panel.view(),
            scale: PanelScale::Shared,
            colormap: Colormap::AfmHot,
        },
        ImagePanel {
            title: format!("{} of {n_picks} patches on the LR", patches.len()),
            data: current.view(),
            scale: PanelScale::Shared,
            colormap: Colormap::AfmHot,
        },
    ];
    if let Some(l) = latest.filter(|l| l.image.dim() == current.dim()) {
        panels.push(ImagePanel {
            title: format!("SR so far ({} steps, {} patches)", l.steps, l.patches),
            data: l.image.view(),
            scale: PanelScale::Shared,
            colormap: Colormap::AfmHot,
        });
    }
    let options = RowOptions { unit, pixel_pitch_xy_m: Some(plan.hr_region.pitch_m(&plan.hr_raster)) };
    // Written beside and renamed into place, so a reader (or a kill mid-write) never sees half a file.
    let (partial, path) = (dir.join("live.partial.png"), dir.join(LIVE_FILE));
    image_row_png_with(&partial, &panels, picks_so_far, &options)?;
    std::fs::rename(&partial, &path).map_err(|e| FigureError::Write { path, source: image::ImageError::IoError(e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_patch_keeps_its_detail_and_takes_the_local_mean() {
        let mut image = Array2::from_elem((8, 8), 5.0f32);
        let patch = Array2::from_shape_fn((4, 4), |(r, c)| (r * 4 + c) as f32);
        paste_offset_matched(&mut image, &patch, &PixelRect { col: 2, row: 3, cols: 4, rows: 4 });
        let pasted = image.slice(s![3..7, 2..6]).to_owned();
        assert!((pasted.mean().unwrap() - 5.0).abs() < 1e-5);
        assert!((pasted[[0, 1]] - pasted[[0, 0]] - 1.0).abs() < 1e-5, "detail kept");
        assert_eq!(image[[0, 0]], 5.0);
        // clipped at the border, never a panic
        paste_offset_matched(&mut image, &patch, &PixelRect { col: 6, row: 6, cols: 4, rows: 4 });
        assert!(image.iter().all(|v| v.is_finite()));
    }
}
