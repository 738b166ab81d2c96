//! Colour maps for image panels: `AfmHot` (black → red → yellow → white, the usual AFM height map)
//! and `Grey`.

use serde::{Deserialize, Serialize};

/// A map from [0, 1] to RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    /// matplotlib's `afmhot`.
    #[default]
    AfmHot,
    /// Black to white.
    Grey,
}

impl Colormap {
    /// Colour of `v` (clamped to [0, 1]; NaN is drawn mid-grey).
    pub fn rgb(self, v: f64) -> [u8; 3] {
        if v.is_nan() {
            return [128, 128, 128];
        }
        let v = v.clamp(0.0, 1.0);
        let byte = |x: f64| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
        match self {
            Colormap::AfmHot => [byte(2.0 * v), byte(2.0 * v - 0.5), byte(2.0 * v - 1.0)],
            Colormap::Grey => [byte(v); 3],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_black_and_white() {
        for m in [Colormap::AfmHot, Colormap::Grey] {
            assert_eq!(m.rgb(0.0), [0, 0, 0]);
            assert_eq!(m.rgb(1.0), [255, 255, 255]);
            assert_eq!(m.rgb(2.0), [255, 255, 255]);
        }
        assert_eq!(Colormap::AfmHot.rgb(0.5), [255, 128, 0]);
    }
}
