//! PNG figures: the loss curve (with the validation-by-reconstruction PSNR when there is one), x–y
//! line plots with named series (e.g. PSNR vs acquisition-time fraction per strategy) and rows of
//! image panels (LR | SR | HR | |SR − HR|) with picks outlined and numbered, colour bars in the
//! channel's unit with an SI prefix (nm, pm, mV …) and a scale bar.
//! Drawn with `plotters` into an RGB buffer and encoded with `image`. Text uses DejaVu Sans read at
//! run time; without the font the figures are drawn without text rather than failing.

mod colormap;
mod font;
mod line_plot;
mod panels;
pub mod units;

pub use colormap::Colormap;
pub use font::{text_available, DEJAVU_SANS_PATH};
pub use line_plot::{line_plot_png, loss_curve_png, loss_curve_with_validation_png, LinePlot, Series, ValidationCurve};
pub use panels::{image_row_png, image_row_png_with, sr_comparison_png, sr_comparison_png_with, ImagePanel, PanelScale, RowOptions};

use std::path::{Path, PathBuf};

/// Error while drawing or writing a figure.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// Nothing to draw (no points, no panels, an empty image).
    #[error("nothing to draw: {0}")]
    Empty(&'static str),
    /// plotters failed.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The PNG could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: image::ImageError,
    },
}

/// Encodes an RGB8 buffer of `width × height` as PNG at `path`.
fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), FigureError> {
    image::save_buffer(path, rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|source| FigureError::Write { path: path.to_path_buf(), source })
}

/// Turns any plotters error into a [`FigureError::Draw`].
fn draw_err<E: std::fmt::Display>(e: E) -> FigureError {
    FigureError::Draw(e.to_string())
}
