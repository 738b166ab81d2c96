//! `[level] hr_frames = "joint"`: the HR frames' heights are levelled as the LR frame was, together.
//! What levelling removed from the LR (its plane and, with `plane+lines`, each line's offset) is
//! removed from every HR pixel at the same place on the sample; then one plane over scanner
//! coordinates, fitted to the frames minus the levelled LR under them over every frame at once, takes
//! what is left of the scanner's z reference. The frames keep the heights they measured relative to
//! one another and to the sample: fitting each frame (and each of its lines) to the LR on its own would
//! hand it the LR's errors at that scale, e.g. a fast pass's feedback lag, which raises or lowers
//! rough regions.

use super::prepare::PreparedFrame;
use crate::geo_image::GeoImage;
use crate::level::{fit_plane_through, Levelled, Plane};
use crate::upsample::Interpolation;

/// A plane over scanner coordinates: `z = at_centroid + per_m_x·(x − centroid_x) + per_m_y·(y − centroid_y)`,
/// in the image's unit, with x and y in metres.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScannerPlane {
    /// Where the fitted pixels' positions average, metres (x, y).
    pub centroid_m: (f64, f64),
    /// The plane's value there.
    pub at_centroid: f64,
    /// Change per metre along the scanner's x axis.
    pub per_m_x: f64,
    /// Change per metre along the scanner's y axis.
    pub per_m_y: f64,
}

impl ScannerPlane {
    /// The plane's value at scanner position `(x, y)`, metres.
    pub fn at(&self, (x, y): (f64, f64)) -> f64 {
        self.at_centroid + self.per_m_x * (x - self.centroid_m.0) + self.per_m_y * (y - self.centroid_m.1)
    }

    /// The same plane over `image`'s pixels (a rotated frame's pixel axes are not the scanner's).
    pub fn on_pixels(&self, image: &GeoImage) -> Plane {
        let at = |col: f64, row: f64| self.at(image.region.pixel_position_m(&image.raster, col, row));
        let offset = at(0.0, 0.0);
        let (lines, points) = image.data.dim();
        let mean = at((points.max(1) - 1) as f64 / 2.0, (lines.max(1) - 1) as f64 / 2.0);
        Plane { offset, slope_per_point: at(1.0, 0.0) - offset, slope_per_line: at(0.0, 1.0) - offset, mean }
    }
}

/// What levelling removed from the LR frame `lr` (levelled; `removed` says what went) at scanner
/// position `(x, y)`: the plane about its mean, and the line offset, linear between the LR's lines
/// (the first and last line's beyond them).
fn removed_from_lr(lr: &GeoImage, removed: &Levelled, (x, y): (f64, f64)) -> f64 {
    let (col, row) = lr.region.pixel_of_m(&lr.raster, x, y);
    let plane = removed.plane.at(row, col) - removed.plane.mean;
    let offsets = &removed.line_offsets;
    let line = match offsets.len() {
        0 => 0.0,
        n => {
            let r = row.clamp(0.0, (n - 1) as f64);
            let (below, t) = (r.floor() as usize, r - r.floor());
            let above = (below + 1).min(n - 1);
            offsets[below] * (1.0 - t) + offsets[above] * t
        }
    };
    plane + line
}

/// Levels every frame's heights as the LR `lr` was levelled (`removed`: what that took away), then
/// fits one plane to (frame − `lr` resampled under it) over every pixel of the frames whose
/// registration is not ambiguous (of all frames when every one is) and removes it too (with `tilt`
/// false: one offset). Records, on each frame's pixels, the plane fitted as its `relative_plane`;
/// returns it.
pub fn level_jointly(lr: &GeoImage, removed: &Levelled, frames: &mut [PreparedFrame], tilt: bool) -> Result<ScannerPlane, String> {
    for f in frames.iter_mut() {
        let image = &f.image;
        let data = ndarray::Array2::from_shape_fn(image.data.dim(), |(row, col)| {
            let at = image.region.pixel_position_m(&image.raster, col as f64, row as f64);
            (image.data[[row, col]] as f64 - removed_from_lr(lr, removed, at)) as f32
        });
        f.image = f.image.with_data(data);
    }
    let any_clear = frames.iter().any(|f| !f.registration.ambiguous);
    let mut samples: Vec<((f64, f64), f64)> = Vec::new();
    for f in frames.iter().filter(|f| !any_clear || !f.registration.ambiguous) {
        let reference = lr.resample_onto(&f.image.region, &f.image.raster, Interpolation::Bicubic).map_err(|e| e.to_string())?;
        for ((row, col), &v) in f.image.data.indexed_iter() {
            let d = v as f64 - reference[[row, col]] as f64;
            if d.is_finite() {
                samples.push((f.image.region.pixel_position_m(&f.image.raster, col as f64, row as f64), d));
            }
        }
    }
    let plane = fit_scanner_plane(&samples, tilt);
    for f in frames.iter_mut() {
        let image = &f.image;
        let data = ndarray::Array2::from_shape_fn(image.data.dim(), |(row, col)| {
            (image.data[[row, col]] as f64 - plane.at(image.region.pixel_position_m(&image.raster, col as f64, row as f64))) as f32
        });
        f.relative_plane = plane.on_pixels(&f.image);
        f.image = f.image.with_data(data);
    }
    Ok(plane)
}

/// The least-squares plane through `samples` (position in metres, value); a constant without `tilt`,
/// zero without samples.
fn fit_scanner_plane(samples: &[((f64, f64), f64)], tilt: bool) -> ScannerPlane {
    match fit_plane_through(|| samples.iter().map(|&((x, y), z)| (x, y, z))) {
        None => ScannerPlane::default(),
        Some(f) if tilt => ScannerPlane { centroid_m: f.centroid, at_centroid: f.mean, per_m_x: f.slope_x, per_m_y: f.slope_y },
        Some(f) => ScannerPlane { centroid_m: f.centroid, at_centroid: f.mean, ..ScannerPlane::default() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{level, LevelMode};
    use crate::register::Registration;
    use afm_drivers::{PixelRect, ScanRegion};
    use ndarray::Array2;

    const SIZE_M: f64 = 2e-6;

    /// A smooth test surface, metres, at scanner position (x, y) in metres.
    fn surface((x, y): (f64, f64)) -> f64 {
        1e-9 * ((x * 3.1e6).sin() + (y * 2.3e6).cos() + 0.5 * (x * 1.7e6 + y * 4.1e6).sin())
    }

    /// An image of `f` over `region`, `points` × `lines`.
    fn image_of(region: ScanRegion, points: usize, lines: usize, f: impl Fn((f64, f64)) -> f64) -> GeoImage {
        let raster = afm_drivers::Raster::new(points, lines);
        let data = Array2::from_shape_fn((lines, points), |(r, c)| f(region.pixel_position_m(&raster, c as f64, r as f64)) as f32);
        GeoImage::new(data, region, "m")
    }

    fn frame(image: GeoImage) -> PreparedFrame {
        PreparedFrame {
            label: "patch".into(),
            registration: Registration::identity(),
            returned_minus_requested_px: None,
            relative_plane: Plane::default(),
            image,
            line_shifts_px: None,
        }
    }

    #[test]
    fn a_frame_cut_from_the_raw_lr_comes_out_as_the_levelled_lr_there() {
        // A tilted LR whose lines carry offsets of their own; the frame is a crop of the raw LR, so
        // levelled as the LR was it must equal the levelled LR's crop, and nothing is left to fit.
        let region = ScanRegion::square(1e-6, -0.5e-6, SIZE_M);
        let mut raw = image_of(region, 48, 40, |(x, y)| surface((x, y)) + 4e-3 * x - 2e-3 * y);
        for (r, mut line) in raw.data.rows_mut().into_iter().enumerate() {
            line.mapv_inplace(|v| v + (0.4e-9 * ((r * 7 % 5) as f64 - 2.0)) as f32);
        }
        let removed = level(raw.view(), LevelMode::PlaneLines, None);
        let lr = raw.with_data(removed.data.clone());
        let rect = PixelRect { col: 10, row: 6, cols: 20, rows: 24 };
        let mut frames = vec![frame(raw.crop(&rect))];
        let plane = level_jointly(&lr, &removed, &mut frames, true).expect("levelled");
        let expected = lr.crop(&rect).data;
        let worst = frames[0].image.data.iter().zip(expected.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-13, "largest difference to the levelled LR {worst:e} m");
        assert!(plane.at_centroid.abs() < 1e-13 && plane.per_m_x.abs() < 1e-6 && plane.per_m_y.abs() < 1e-6, "{plane:?}");
    }

    #[test]
    fn frames_keep_their_relative_heights_where_the_lr_is_biased() {
        // The LR is the surface plus a broad bump (an error of the fast pass at the scale of a frame),
        // the frames are the surface itself, 0.8 nm higher (the scanner's z reference). Each frame
        // fitted to the LR on its own would take the bump's height there; levelled jointly every frame
        // keeps the one offset, so frame − surface is the same constant in both.
        let region = ScanRegion::square(0.0, 0.0, SIZE_M);
        let bump = |(x, y): (f64, f64)| 0.6e-9 * (-((x - 0.5e-6).powi(2) + (y - 0.5e-6).powi(2)) / (0.4e-6f64).powi(2)).exp();
        let lr = image_of(region, 64, 64, |p| surface(p) + bump(p));
        let removed = level(lr.view(), LevelMode::None, None);
        let patch = |cx: f64, cy: f64| frame(image_of(ScanRegion::square(cx, cy, 0.25e-6), 32, 32, |p| surface(p) + 0.8e-9));
        let mut frames = vec![patch(0.5e-6, 0.5e-6), patch(-0.6e-6, -0.5e-6)];
        level_jointly(&lr, &removed, &mut frames, false).expect("levelled");
        let offset = |f: &PreparedFrame| {
            let truth = image_of(f.image.region, f.image.raster.points, f.image.raster.lines, surface);
            f.image.data.iter().zip(truth.data.iter()).map(|(a, b)| *a as f64 - *b as f64).sum::<f64>() / truth.data.len() as f64
        };
        let (a, b) = (offset(&frames[0]), offset(&frames[1]));
        assert!((a - b).abs() < 1e-12, "offsets {a:e} and {b:e} m differ: the LR's bump leaked into a frame");
        // The bump's heights under the two frames differ by far more: a per-frame fit would not pass.
        assert!((bump((0.5e-6, 0.5e-6)) - bump((-0.6e-6, -0.5e-6))).abs() > 0.5e-9);
        assert_eq!(frames[1].relative_plane.slope_per_point, 0.0);
    }

    #[test]
    fn an_ambiguous_frame_is_levelled_but_does_not_move_the_fit() {
        let region = ScanRegion::square(0.0, 0.0, SIZE_M);
        let lr = image_of(region, 64, 64, surface);
        let removed = level(lr.view(), LevelMode::Plane, None);
        let lr = lr.with_data(removed.data.clone());
        let patch = |cx: f64, lift: f64| frame(image_of(ScanRegion::square(cx, 0.2e-6, 0.25e-6), 32, 32, |p| surface(p) + lift));
        let mut clear = vec![patch(-0.5e-6, 1e-9), patch(0.5e-6, 1e-9)];
        let alone = level_jointly(&lr, &removed, &mut clear, true).expect("levelled");
        let mut stray = patch(0.0, 50e-9);
        stray.registration.ambiguous = true;
        let mut with_stray = vec![patch(-0.5e-6, 1e-9), patch(0.5e-6, 1e-9), stray];
        let both = level_jointly(&lr, &removed, &mut with_stray, true).expect("levelled");
        assert_eq!(alone, both);
        assert_eq!(clear[0].image.data, with_stray[0].image.data);
        // levelled all the same: it keeps its 49 nm above the others
        let mean = |f: &PreparedFrame| f.image.data.iter().map(|&v| v as f64).sum::<f64>() / f.image.data.len() as f64;
        assert!(mean(&with_stray[2]) - mean(&with_stray[0]) > 40e-9);
    }
}
