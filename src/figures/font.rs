//! The one font figures use: DejaVu Sans, read once from the system (installed by the project's setup
//! script) and registered with plotters as "sans-serif". Missing font → figures without text.

use plotters::style::FontStyle;
use std::sync::OnceLock;

/// Where the font is read from.
pub const DEJAVU_SANS_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Whether text can be drawn: true once DejaVu Sans has been read and registered.
pub fn text_available() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        let Ok(bytes) = std::fs::read(DEJAVU_SANS_PATH) else {
            tracing::warn!("{DEJAVU_SANS_PATH} not found: figures are drawn without text");
            return false;
        };
        // plotters keeps fonts for the life of the process: leak the bytes once.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}
