//! Where the LR image lies on the HR grid when the files are used offline. When both files carry
//! their physical geometry (.ibw, pyNSID .h5) it is used as it is. A plain .npy carries none: the
//! original scripts made their LR arrays as `HR[::f, ::f]`, so LR pixel k is assumed to sit on HR
//! pixel f·k ("strided", with f found from the two sizes). "corner" assumes instead that the LR scan
//! covered the same region with its first and last points on the frame edges (Asylum's convention,
//! what an LR frame taken by the instrument over the same area is).

use afm_drivers::{Raster, ScanRegion};
use serde::{Deserialize, Serialize};

/// How the LR image is placed on the HR grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum LrGeometry {
    /// The files' own physical geometry when both carry it, else `strided`.
    #[default]
    Auto,
    /// The files' own physical geometry (an error when either file has none, e.g. a .npy).
    Physical,
    /// LR pixel k on HR pixel f·k: the LR is the decimation `HR[::f, ::f]` (the original scripts' .npy pairs).
    Strided,
    /// LR and HR cover the same region, first and last pixels on its edges (Asylum's convention).
    Corner,
}

impl LrGeometry {
    /// Short name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LrGeometry::Auto => "auto",
            LrGeometry::Physical => "physical",
            LrGeometry::Strided => "strided",
            LrGeometry::Corner => "corner",
        }
    }
}

/// The step f of an `HR[::f, ::f]` decimation that turns `hr` into `lr` (the smallest f ≥ 1 with
/// ⌈HR/f⌉ = LR along both axes), or `None` when no such f exists.
pub fn decimation_step(hr: Raster, lr: Raster) -> Option<usize> {
    if lr.points == 0 || lr.lines == 0 || hr.points < lr.points || hr.lines < lr.lines {
        return None;
    }
    (1..=hr.points.max(hr.lines)).find(|&f| hr.points.div_ceil(f) == lr.points && hr.lines.div_ceil(f) == lr.lines)
}

/// An HR grid `factor` times finer than an LR frame (points and lines × `factor`), for indicators on a
/// single LR image: `Corner` (and `Physical`, `Auto`) — the same region; `Strided` — LR pixel k on HR
/// pixel `factor`·k, the HR grid reaching `factor` − 1 of its pixels beyond the last LR pixel.
pub fn hr_grid_for_lr(lr_region: &ScanRegion, lr_raster: &Raster, factor: usize, geometry: LrGeometry) -> (ScanRegion, Raster) {
    let f = factor.max(1);
    let hr_raster = Raster::new(lr_raster.points * f, lr_raster.lines * f);
    if geometry != LrGeometry::Strided {
        return (*lr_region, hr_raster);
    }
    let (lr_px, lr_py) = lr_region.pitch_m(lr_raster);
    let (hr_px, hr_py) = (lr_px / f as f64, lr_py / f as f64);
    let width_m = hr_px * hr_raster.points.saturating_sub(1) as f64;
    let height_m = hr_py * hr_raster.lines.saturating_sub(1) as f64;
    // Anchor: HR pixel 0 on LR pixel 0 (the LR frame's lower-left corner), in the LR frame's own axes.
    let (dx, dy) = (-lr_region.width_m / 2.0 + width_m / 2.0, -lr_region.height_m / 2.0 + height_m / 2.0);
    let (cx, cy) = lr_region.local_to_scanner_m(dx, dy);
    (ScanRegion { center_x_m: cx, center_y_m: cy, width_m, height_m, angle_deg: lr_region.angle_deg }, hr_raster)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::upsample::{strided_region, GridMap};

    #[test]
    fn decimation_step_inverts_numpy_slicing() {
        assert_eq!(decimation_step(Raster::square(512), Raster::square(128)), Some(4));
        assert_eq!(decimation_step(Raster::square(65), Raster::square(17)), Some(4)); // len(range(0, 65, 4)) = 17
        assert_eq!(decimation_step(Raster::new(64, 32), Raster::new(16, 8)), Some(4));
        assert_eq!(decimation_step(Raster::square(64), Raster::square(20)), None);
        assert_eq!(decimation_step(Raster::new(64, 64), Raster::new(16, 8)), None);
        assert_eq!(decimation_step(Raster::square(16), Raster::square(64)), None);
    }

    #[test]
    fn strided_hr_grid_puts_lr_pixel_k_on_hr_pixel_fk() {
        let lr_region = ScanRegion { angle_deg: 30.0, ..ScanRegion::square(1e-6, -2e-6, 1.5e-6) };
        let lr_raster = Raster::square(16);
        let (hr_region, hr_raster) = hr_grid_for_lr(&lr_region, &lr_raster, 4, LrGeometry::Strided);
        assert_eq!(hr_raster, Raster::square(64));
        // the inverse construction gives back the LR region
        let back = strided_region(&hr_region, &hr_raster, 4, &lr_raster);
        for (a, b) in [(back.center_x_m, lr_region.center_x_m), (back.center_y_m, lr_region.center_y_m), (back.width_m, lr_region.width_m)]
        {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
        let map = GridMap { src_region: lr_region, src_raster: lr_raster, dst_region: hr_region, dst_raster: hr_raster };
        let (cols, rows) = map.source_coordinates().unwrap();
        assert!((cols[4 * 7] - 7.0).abs() < 1e-9 && (rows[4 * 15] - 15.0).abs() < 1e-9);
        let (same, _) = hr_grid_for_lr(&lr_region, &lr_raster, 4, LrGeometry::Corner);
        assert_eq!(same, lr_region);
    }
}
