//! An image with its physical geometry: the values of one channel, the region the scan covered and
//! the raster it was sampled on, and the unit. Every stage that relates two images (placing the LR on
//! the HR grid, registering a patch, pasting it back) goes through these coordinates, never through
//! assumed pixel offsets.

use crate::upsample::{GridMap, GridMapError, Interpolation};
use afm_drivers::{PixelRect, Raster, ScanRegion};
use ndarray::{Array2, ArrayView2};

/// One channel of a frame with its geometry, `[line, point]`, row 0 the first (bottom) line.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoImage {
    /// The values, in `unit`.
    pub data: Array2<f32>,
    /// Where the pixels lie (Asylum convention: first and last points on the edges).
    pub region: ScanRegion,
    /// Points × lines of `data`.
    pub raster: Raster,
    /// Unit of the values, e.g. "m", "V", "deg".
    pub unit: String,
}

impl GeoImage {
    /// Wraps `data` sampled over `region` (its raster is the array's shape).
    pub fn new(data: Array2<f32>, region: ScanRegion, unit: impl Into<String>) -> Self {
        let (lines, points) = data.dim();
        Self { data, region, raster: Raster::new(points, lines), unit: unit.into() }
    }

    /// The same image with other values (same geometry and unit).
    pub fn with_data(&self, data: Array2<f32>) -> Self {
        Self { data, ..self.clone() }
    }

    /// The pixel pitch (points, lines), metres.
    pub fn pitch_m(&self) -> (f64, f64) {
        self.region.pitch_m(&self.raster)
    }

    /// This image resampled onto the grid `region` × `raster` by `method` (positions outside the
    /// image take the nearest border values).
    pub fn resample_onto(&self, region: &ScanRegion, raster: &Raster, method: Interpolation) -> Result<Array2<f32>, GridMapError> {
        self.map_onto(region, raster).resample(self.data.view(), method)
    }

    /// The map from this image's pixels onto the grid `region` × `raster`.
    pub fn map_onto(&self, region: &ScanRegion, raster: &Raster) -> GridMap {
        GridMap { src_region: self.region, src_raster: self.raster, dst_region: *region, dst_raster: *raster }
    }

    /// The sub-image of the pixels in `rect`, with the region that covers exactly them.
    pub fn crop(&self, rect: &PixelRect) -> GeoImage {
        let (region, raster) = self.region.sub_region(&self.raster, rect);
        let data = self.data.slice(ndarray::s![rect.row..rect.row + rect.rows, rect.col..rect.col + rect.cols]).to_owned();
        GeoImage { data, region, raster, unit: self.unit.clone() }
    }

    /// The image moved by (`dx_m`, `dy_m`) along its own point and line axes: the same pixels, now
    /// said to lie that much further along.
    pub fn shifted(&self, dx_m: f64, dy_m: f64) -> GeoImage {
        let (cx, cy) = self.region.local_to_scanner_m(dx_m, dy_m);
        GeoImage { region: ScanRegion { center_x_m: cx, center_y_m: cy, ..self.region }, ..self.clone() }
    }

    /// A view of the values.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        self.data.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_and_shifts_keep_pixels_on_their_physical_positions() {
        let img = GeoImage::new(Array2::from_shape_fn((9, 9), |(r, c)| (10 * r + c) as f32), ScanRegion::square(0.0, 0.0, 8e-9), "m");
        let rect = PixelRect { col: 2, row: 3, cols: 4, rows: 4 };
        let crop = img.crop(&rect);
        assert_eq!(crop.data[[0, 0]], 32.0);
        // the crop resampled back onto the whole grid puts its pixels where they came from
        let back = crop.resample_onto(&img.region, &img.raster, Interpolation::Nearest).unwrap();
        assert_eq!(back[[4, 3]], img.data[[4, 3]]);
        // moved by one pixel pitch along points: pixel (r, c) now lies where (r, c + 1) was
        let moved = img.shifted(1e-9, 0.0);
        let seen = moved.resample_onto(&img.region, &img.raster, Interpolation::Bicubic).unwrap();
        assert!((seen[[4, 5]] - img.data[[4, 4]]).abs() < 1e-4);
    }
}
