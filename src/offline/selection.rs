//! The picks of a selection outlined over an image, as PNG (the `select` and `train` commands).

use super::OfflineError;
use crate::figures::{image_row_png, Colormap, ImagePanel, PanelScale};
use afm_drivers::PixelRect;
use ndarray::ArrayView2;
use std::path::Path;

/// Draws `image` with the `picks` rectangles (on its own pixel grid) outlined to a PNG at `path`.
pub fn picks_png(path: &Path, image: ArrayView2<f32>, picks: &[PixelRect], title: &str) -> Result<(), OfflineError> {
    let panel = ImagePanel { title: title.into(), data: image, scale: PanelScale::Shared, colormap: Colormap::AfmHot };
    image_row_png(path, &[panel], picks).map_err(|e| OfflineError::output(path, e))
}
