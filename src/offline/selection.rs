//! The picks of a selection outlined over an image, as PNG (the `select` and `train` commands).

use super::inputs::LrImage;
use super::OfflineError;
use crate::figures::{image_row_png_with, Colormap, ImagePanel, PanelScale, RowOptions};
use afm_drivers::PixelRect;
use ndarray::ArrayView2;
use std::path::Path;

/// Draws `image` — `source`'s data, levelled — with the `picks` rectangles (on its own pixel grid)
/// outlined to a PNG at `path`: in `source`'s unit, with a scale bar and in its pixels' proportion
/// when the file gave its geometry.
pub fn picks_png(path: &Path, source: &LrImage, image: ArrayView2<f32>, picks: &[PixelRect], title: &str) -> Result<(), OfflineError> {
    let panel = ImagePanel { title: title.into(), data: image, scale: PanelScale::Shared, colormap: Colormap::AfmHot };
    let options =
        RowOptions { unit: source.unit.clone(), pixel_pitch_xy_m: source.geometry_known.then(|| source.region.pitch_m(&source.raster)) };
    image_row_png_with(path, &[panel], picks, &options).map_err(|e| OfflineError::output(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use afm_drivers::{Raster, ScanRegion};
    use ndarray::Array2;

    #[test]
    fn picks_are_drawn_in_the_files_pixel_proportion_when_it_gave_one() {
        // 256 points × 128 lines over 1 µm × 1 µm: pixels twice as tall as wide
        let data = Array2::from_shape_fn((128, 256), |(r, c)| (r + c) as f32 * 1e-10);
        let region = ScanRegion { center_x_m: 0.0, center_y_m: 0.0, width_m: 1e-6, height_m: 1e-6, angle_deg: 0.0 };
        let mut lr = LrImage {
            path: "thick.h5".into(),
            data,
            region,
            raster: Raster::new(256, 128),
            geometry_known: true,
            channel: "HeightRetrace".into(),
            unit: "m".into(),
        };
        let path = std::env::temp_dir().join(format!("afm-spark-picks-aspect-{}.png", std::process::id()));
        let pick = [PixelRect { col: 0, row: 0, cols: 32, rows: 16 }];
        let size = |lr: &LrImage| {
            picks_png(&path, lr, lr.data.view(), &pick, "picks").unwrap();
            let png = image::open(&path).unwrap();
            (png.width(), png.height())
        };
        let (w_known, h_known) = size(&lr);
        lr.geometry_known = false; // an assumed pitch: drawn pixel for pixel
        let (w_assumed, h_assumed) = size(&lr);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(w_known, w_assumed);
        // the image area: 256 × 257 (the region's pitch is span / (n − 1)) against 256 × 128
        assert_eq!(h_known - h_assumed, 257 - 128, "{w_known}×{h_known} vs {w_assumed}×{h_assumed}");
    }
}
