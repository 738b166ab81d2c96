//! PNG figures: the loss curve, x–y line plots with named series (e.g. PSNR vs acquisition-time
//! fraction per strategy) and rows of image panels (LR | SR | HR | |SR − HR|) with picks outlined.
//! Drawn with `plotters` into an RGB buffer and encoded with `image`. Text uses DejaVu Sans read at
//! run time; without the font the figures are drawn without text rather than failing.

mod colormap;
mod font;
mod line_plot;
mod panels;

pub use colormap::Colormap;
pub use font::{text_available, DEJAVU_SANS_PATH};
pub use line_plot::{line_plot_png, loss_curve_png, LinePlot, Series};
pub use panels::{image_row_png, sr_comparison_png, ImagePanel, PanelScale};

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
