//! Scan geometry: the physical region a scan covers (metres, scanner frame), the pixel raster it is
//! sampled on, and the exact conversion between a pixel rectangle of a frame and the physical region
//! that covers it.
//!
//! Convention (Asylum's): the first and last points of a line lie on the region's edges, so the pixel
//! pitch is `size / (N − 1)`. Point `i` of a line sits at `x = centre_x − width/2 + i·pitch_x`, line `j`
//! at `y = centre_y − height/2 + j·pitch_y` (before rotation by `angle_deg` about the centre). Line 0 is
//! the first line scanned, at the bottom (smallest y); point 0 is the left edge (smallest x).

use serde::{Deserialize, Serialize};

/// A rectangle on the sample in the scanner's frame, in metres, rotated by `angle_deg` about its centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScanRegion {
    /// Centre of the region along the scanner's x axis, metres.
    pub center_x_m: f64,
    /// Centre of the region along the scanner's y axis, metres.
    pub center_y_m: f64,
    /// Edge-to-edge extent along the fast (x) axis, metres: first to last point of a line.
    pub width_m: f64,
    /// Edge-to-edge extent along the slow (y) axis, metres: first to last line.
    pub height_m: f64,
    /// Rotation of the scan about its centre, degrees (Asylum `ScanAngle`), counter-clockwise.
    pub angle_deg: f64,
}

/// The pixel grid a scan is sampled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Raster {
    /// Points per line (fast axis, x).
    pub points: usize,
    /// Lines per frame (slow axis, y).
    pub lines: usize,
}

/// A rectangle of pixels inside a frame: first column/row and extent, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PixelRect {
    /// First column (point index along the fast axis).
    pub col: usize,
    /// First row (line index along the slow axis; row 0 is the bottom line).
    pub row: usize,
    /// Number of columns.
    pub cols: usize,
    /// Number of rows.
    pub rows: usize,
}

impl Raster {
    /// A raster of `points` per line and `lines` per frame.
    pub fn new(points: usize, lines: usize) -> Self {
        Self { points, lines }
    }
    /// A square raster of `n` × `n` pixels.
    pub fn square(n: usize) -> Self {
        Self::new(n, n)
    }
}

impl ScanRegion {
    /// An unrotated square region of side `size_m` centred at (`center_x_m`, `center_y_m`).
    pub fn square(center_x_m: f64, center_y_m: f64, size_m: f64) -> Self {
        Self { center_x_m, center_y_m, width_m: size_m, height_m: size_m, angle_deg: 0.0 }
    }

    /// Distance between neighbouring points (x) and lines (y) for `raster`, metres.
    /// A single point or line has pitch 0.
    pub fn pitch_m(&self, raster: &Raster) -> (f64, f64) {
        let px = if raster.points > 1 { self.width_m / (raster.points - 1) as f64 } else { 0.0 };
        let py = if raster.lines > 1 { self.height_m / (raster.lines - 1) as f64 } else { 0.0 };
        (px, py)
    }

    /// Position of pixel (`col`, `row`) — fractional indices allowed — in the region's own unrotated
    /// frame, relative to the region centre, metres.
    pub fn local_offset_m(&self, raster: &Raster, col: f64, row: f64) -> (f64, f64) {
        let (px, py) = self.pitch_m(raster);
        let x = if raster.points > 1 { -self.width_m / 2.0 + col * px } else { 0.0 };
        let y = if raster.lines > 1 { -self.height_m / 2.0 + row * py } else { 0.0 };
        (x, y)
    }

    /// Maps a point given relative to the region centre in its own frame to scanner coordinates.
    pub fn local_to_scanner_m(&self, dx_m: f64, dy_m: f64) -> (f64, f64) {
        let (s, c) = self.angle_deg.to_radians().sin_cos();
        (self.center_x_m + c * dx_m - s * dy_m, self.center_y_m + s * dx_m + c * dy_m)
    }

    /// Scanner position of pixel (`col`, `row`) (fractional indices allowed), metres.
    pub fn pixel_position_m(&self, raster: &Raster, col: f64, row: f64) -> (f64, f64) {
        let (dx, dy) = self.local_offset_m(raster, col, row);
        self.local_to_scanner_m(dx, dy)
    }

    /// The four corners of the region in scanner coordinates, metres.
    pub fn corners_m(&self) -> [(f64, f64); 4] {
        let (hw, hh) = (self.width_m / 2.0, self.height_m / 2.0);
        [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)].map(|(dx, dy)| self.local_to_scanner_m(dx, dy))
    }

    /// The physical region whose scan with the same pixel pitch lands exactly on the pixels of `rect`
    /// of a frame taken over `self` with `raster`: its first and last points coincide with the rect's
    /// first and last pixel centres. Returns the region and the raster to scan it with.
    pub fn sub_region(&self, raster: &Raster, rect: &PixelRect) -> (ScanRegion, Raster) {
        let (px, py) = self.pitch_m(raster);
        let width_m = rect.cols.saturating_sub(1) as f64 * px;
        let height_m = rect.rows.saturating_sub(1) as f64 * py;
        let mid_col = rect.col as f64 + (rect.cols.saturating_sub(1)) as f64 / 2.0;
        let mid_row = rect.row as f64 + (rect.rows.saturating_sub(1)) as f64 / 2.0;
        let (dx, dy) = self.local_offset_m(raster, mid_col, mid_row);
        let (cx, cy) = self.local_to_scanner_m(dx, dy);
        let region = ScanRegion { center_x_m: cx, center_y_m: cy, width_m, height_m, angle_deg: self.angle_deg };
        (region, Raster::new(rect.cols, rect.rows))
    }

    /// Where `other` (sampled with `other_raster`) lies on this frame's pixel grid: the fractional
    /// (col, row) of `other`'s first pixel. Both regions must share the angle for this to be exact.
    pub fn pixel_of_m(&self, raster: &Raster, x_m: f64, y_m: f64) -> (f64, f64) {
        let (s, c) = self.angle_deg.to_radians().sin_cos();
        let (rx, ry) = (x_m - self.center_x_m, y_m - self.center_y_m);
        let (lx, ly) = (c * rx + s * ry, -s * rx + c * ry);
        let (px, py) = self.pitch_m(raster);
        let col = if px > 0.0 { (lx + self.width_m / 2.0) / px } else { 0.0 };
        let row = if py > 0.0 { (ly + self.height_m / 2.0) / py } else { 0.0 };
        (col, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_region_lands_on_the_frame_pixels() {
        let frame = ScanRegion::square(1e-6, -2e-6, 10e-6);
        let raster = Raster::square(512);
        let rect = PixelRect { col: 192, row: 64, cols: 64, rows: 64 };
        let (tile, tile_raster) = frame.sub_region(&raster, &rect);
        assert_eq!(tile_raster, Raster::square(64));
        assert_eq!(frame.pitch_m(&raster), tile.pitch_m(&tile_raster));
        for (c, r) in [(0.0, 0.0), (63.0, 0.0), (17.0, 40.0), (63.0, 63.0)] {
            let a = tile.pixel_position_m(&tile_raster, c, r);
            let b = frame.pixel_position_m(&raster, 192.0 + c, 64.0 + r);
            assert!((a.0 - b.0).abs() < 1e-18 && (a.1 - b.1).abs() < 1e-18, "{a:?} vs {b:?}");
        }
        let (c, r) = frame.pixel_of_m(&raster, tile.corners_m()[0].0, tile.corners_m()[0].1);
        assert!((c - 192.0).abs() < 1e-9 && (r - 64.0).abs() < 1e-9);
    }

    #[test]
    fn rotated_tile_region_lands_on_the_frame_pixels() {
        let frame = ScanRegion { angle_deg: 30.0, ..ScanRegion::square(0.0, 0.0, 5e-6) };
        let raster = Raster::new(256, 128);
        let rect = PixelRect { col: 10, row: 100, cols: 32, rows: 16 };
        let (tile, tr) = frame.sub_region(&raster, &rect);
        let a = tile.pixel_position_m(&tr, 31.0, 15.0);
        let b = frame.pixel_position_m(&raster, 41.0, 115.0);
        assert!((a.0 - b.0).abs() < 1e-15 && (a.1 - b.1).abs() < 1e-15);
        let (c, r) = frame.pixel_of_m(&raster, b.0, b.1);
        assert!((c - 41.0).abs() < 1e-9 && (r - 115.0).abs() < 1e-9);
    }
}
