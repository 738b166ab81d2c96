//! Reading the images of offline work: one LR image (for `select`), or an HR/LR pair with the LR
//! placed on the HR grid ([`LrGeometry`]). A `.npy` holds one array, so the channel option applies to
//! `.ibw` and `.h5` files only.

use super::geometry::{decimation_step, LrGeometry};
use super::OfflineError;
use crate::config::grid_cuts;
use crate::io::{self, FileFormat, LoadedFile};
use crate::upsample::{strided_region, GridMap, Interpolation};
use afm_drivers::{PixelRect, Raster, ScanRegion};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// One image read from a file, with its geometry.
#[derive(Debug, Clone)]
pub struct LrImage {
    /// The file.
    pub path: PathBuf,
    /// The channel's values, `[line, point]`, row 0 the first (bottom) line.
    pub data: Array2<f32>,
    /// Its physical region (assumed, with a 1 nm pitch, when the file carries none).
    pub region: ScanRegion,
    /// Its raster.
    pub raster: Raster,
    /// Whether the region is the file's own.
    pub geometry_known: bool,
    /// The channel read, e.g. "HeightRetrace".
    pub channel: String,
    /// Its unit, e.g. "m".
    pub unit: String,
}

impl LrImage {
    /// Reads `channel` (default: the first height channel; ignored for `.npy`) of `path`.
    pub fn load(path: &Path, channel: Option<&str>) -> Result<Self, OfflineError> {
        let loaded = io::load(path)?;
        Self::from_loaded(&loaded, channel)
    }

    fn from_loaded(loaded: &LoadedFile, channel: Option<&str>) -> Result<Self, OfflineError> {
        let wanted = if loaded.format == FileFormat::Npy { None } else { channel };
        let ch = loaded.channel(wanted)?;
        Ok(Self {
            path: loaded.path.clone(),
            data: ch.data.clone(),
            region: loaded.frame.region,
            raster: loaded.frame.raster,
            geometry_known: loaded.geometry_known,
            channel: ch.label(),
            unit: ch.unit.clone(),
        })
    }

    /// The part `rect` of the image, on the same pixels: its data, region and raster.
    fn part(&self, rect: &PixelRect) -> Self {
        let data = self.data.slice(ndarray::s![rect.row..rect.row + rect.rows, rect.col..rect.col + rect.cols]).to_owned();
        let (region, raster) = self.region.sub_region(&self.raster, rect);
        Self { data, region, raster, ..self.clone() }
    }
}

/// An HR image (the ground truth, and the source of the "acquired" patches) and the LR image of the
/// same area, with the LR placed on the HR grid.
#[derive(Debug, Clone)]
pub struct ImagePair {
    /// The HR image.
    pub hr: LrImage,
    /// The LR image.
    pub lr: LrImage,
    /// LR frame → HR grid.
    pub map: GridMap,
    /// The geometry used (never `Auto`).
    pub geometry: LrGeometry,
    /// The decimation step f, for `Strided`.
    pub step: Option<usize>,
    /// The part of the HR file in use when it was cut to fit the tile grid ([`ImagePair::cut_for_grid`]);
    /// `None`: the whole file.
    pub hr_crop: Option<PixelRect>,
}

impl ImagePair {
    /// Reads both files and relates them as `geometry` says. Errors name both files and sizes when
    /// they cannot be a pair.
    pub fn load(hr_path: &Path, lr_path: &Path, channel: Option<&str>, geometry: LrGeometry) -> Result<Self, OfflineError> {
        let hr = LrImage::load(hr_path, channel)?;
        let lr = LrImage::load(lr_path, channel)?;
        Self::new(hr, lr, geometry)
    }

    /// Relates two loaded images.
    pub fn new(hr: LrImage, lr: LrImage, geometry: LrGeometry) -> Result<Self, OfflineError> {
        let fail = |why: String| OfflineError::Pair {
            hr: hr.path.clone(),
            hr_points: hr.raster.points,
            hr_lines: hr.raster.lines,
            lr: lr.path.clone(),
            lr_points: lr.raster.points,
            lr_lines: lr.raster.lines,
            why,
        };
        if lr.raster.points > hr.raster.points || lr.raster.lines > hr.raster.lines {
            return Err(fail("the LR image has more pixels than the HR image (swapped --hr and --lr?)".into()));
        }
        let geometry = match geometry {
            LrGeometry::Auto if hr.geometry_known && lr.geometry_known => LrGeometry::Physical,
            LrGeometry::Auto => LrGeometry::Strided,
            g => g,
        };
        let (lr_region, step) = match geometry {
            LrGeometry::Physical => {
                for img in [&hr, &lr] {
                    if !img.geometry_known {
                        return Err(fail(format!(
                            "{} carries no physical geometry (a .npy); use --lr-geometry strided or corner",
                            img.path.display()
                        )));
                    }
                }
                (lr.region, None)
            }
            LrGeometry::Strided => {
                let f = decimation_step(hr.raster, lr.raster).ok_or_else(|| {
                    fail(
                        "no step f makes the LR the decimation HR[::f, ::f] (LR size must be ⌈HR size / f⌉ along both axes); \
                          if the LR was scanned over the same area use --lr-geometry corner"
                            .into(),
                    )
                })?;
                (strided_region(&hr.region, &hr.raster, f, &lr.raster), Some(f))
            }
            LrGeometry::Corner | LrGeometry::Auto => (hr.region, None),
        };
        let map = GridMap { src_region: lr_region, src_raster: lr.raster, dst_region: hr.region, dst_raster: hr.raster };
        let (cols, rows) = map.source_coordinates().map_err(|e| fail(e.to_string()))?;
        let outside = |v: &[f64], n: usize| v.iter().map(|&x| (-x).max(x - (n as f64 - 1.0))).fold(0.0f64, f64::max);
        let worst = outside(&cols, lr.raster.points).max(outside(&rows, lr.raster.lines));
        if worst > 1.0 + 1e-6 {
            return Err(fail(format!("the LR frame does not cover the HR frame: HR pixels lie up to {worst:.1} LR pixels outside it")));
        }
        let (hr_std, lr_std) = (std_dev(&hr.data), std_dev(&lr.data));
        if hr_std > 0.0 && lr_std > 0.0 && !(0.1..=10.0).contains(&(hr_std / lr_std)) {
            tracing::warn!(
                "{} and {} differ in height scale (standard deviation {hr_std:.3e} vs {lr_std:.3e} {}): are both in the same unit?",
                hr.path.display(),
                lr.path.display(),
                hr.unit
            );
        }
        Ok(Self { hr, lr, map, geometry, step, hr_crop: None })
    }

    /// The pair as `grid` can tile it. An HR image that the grid cannot cut into equal tiles whose
    /// sides are a multiple of 4 px (350 px with grid 8) is cut to its largest centred part that it
    /// can; `hr_crop` says which part.
    /// - A strided pair (LR = HR[::f, ::f]): the part starts on an LR pixel and the LR is cut with it,
    ///   so that the LR stays the decimation of the HR part and both tilings match.
    /// - A pair placed by its files' regions or corner to corner: the LR stays whole and where it was
    ///   placed over the HR file, now over the part (it covers the file, so it covers the part).
    ///
    /// An HR image smaller than the grid's smallest tiling is returned whole, for `train` to refuse by
    /// name.
    pub fn cut_for_grid(self, grid: usize) -> Result<Self, OfflineError> {
        let hr = self.hr.raster;
        if grid_cuts(hr.points, grid) && grid_cuts(hr.lines, grid) {
            return Ok(self);
        }
        let strided = self.step.filter(|_| self.geometry == LrGeometry::Strided);
        // The largest side the grid cuts (whose LR, every f-th pixel, the same grid cuts exactly), and
        // where its centred part starts (on an LR pixel).
        let f = strided.unwrap_or(1);
        let usable = |n: usize| (1..=n).rev().find(|&m| grid_cuts(m, grid) && (strided.is_none() || (m % f == 0 && (m / f) % grid == 0)));
        let (Some(points), Some(lines)) = (usable(hr.points), usable(hr.lines)) else { return Ok(self) };
        let start = |n: usize, m: usize| (n - m) / 2 / f * f;
        let rect = PixelRect { col: start(hr.points, points), row: start(hr.lines, lines), cols: points, rows: lines };
        tracing::warn!(
            "{}: {}×{} px cannot be cut into {grid}×{grid} equal tiles of a multiple of 4 px (--grid {grid}): using its centred {}×{} px from point {}, line {} ({})",
            self.hr.path.display(),
            hr.points,
            hr.lines,
            points,
            lines,
            rect.col,
            rect.row,
            if strided.is_some() { "and the LR's pixels on it" } else { "the LR placed over it as over the file" }
        );
        let part = self.hr.part(&rect);
        let mut pair = match strided {
            Some(f) => {
                let lr_rect = PixelRect { col: rect.col / f, row: rect.row / f, cols: points / f, rows: lines / f };
                Self::new(part, self.lr.part(&lr_rect), LrGeometry::Strided)?
            }
            None => {
                let map = GridMap { dst_region: part.region, dst_raster: part.raster, ..self.map };
                Self { hr: part, map, ..self }
            }
        };
        pair.hr_crop = Some(rect);
        Ok(pair)
    }

    /// The LR as the tile selection sees it: over the HR frame, its tile k over HR tile k of the same
    /// `grid`. That is the LR file itself where it spans the HR frame to within an LR pixel at every
    /// edge (a strided pair, whose tiles match by decimation; a corner pair; a physical pair of one
    /// area). An LR that reaches further (an overview with the zoom inside it, or an LR over an HR file
    /// of which [`ImagePair::cut_for_grid`] kept a part) is resampled (bilinear) onto the HR region at
    /// about the LR's own pitch, a multiple of `grid` px a side, as the instrument would have scanned
    /// it there: the whole LR's tiles lie elsewhere than the HR tiles they would name.
    pub fn lr_for_selection(&self, grid: usize) -> Result<LrImage, OfflineError> {
        let (cols, rows) = self.map.source_coordinates().map_err(|e| OfflineError::stage("placing the LR over the HR frame", e))?;
        let span = |v: &[f64]| v.last().zip(v.first()).map_or(0.0, |(last, first)| last - first);
        let spans = |v: &[f64], n: usize| {
            v.first().zip(v.last()).is_some_and(|(&first, &last)| first.abs() <= 1.0 && (last - (n as f64 - 1.0)).abs() <= 1.0)
        };
        if self.geometry == LrGeometry::Strided || (spans(&cols, self.lr.raster.points) && spans(&rows, self.lr.raster.lines)) {
            return Ok(self.lr.clone());
        }
        let grid = grid.max(1);
        let side = |span_lr_px: f64| grid * ((span_lr_px + 1.0) / grid as f64).round().max(2.0) as usize;
        let raster = Raster::new(side(span(&cols)), side(span(&rows)));
        let map = GridMap { src_region: self.map.src_region, src_raster: self.lr.raster, dst_region: self.hr.region, dst_raster: raster };
        let data = map
            .resample(self.lr.data.view(), Interpolation::Bilinear)
            .map_err(|e| OfflineError::stage("resampling the LR over the HR frame", e))?;
        tracing::info!(
            "{}: picking tiles on its part over the HR frame ({:.1}…{:.1} × {:.1}…{:.1} of its pixels), resampled to {}×{} px",
            self.lr.path.display(),
            cols.first().copied().unwrap_or(0.0),
            cols.last().copied().unwrap_or(0.0),
            rows.first().copied().unwrap_or(0.0),
            rows.last().copied().unwrap_or(0.0),
            raster.points,
            raster.lines
        );
        Ok(LrImage { data, region: self.hr.region, raster, ..self.lr.clone() })
    }

    /// The HR raster.
    pub fn hr_raster(&self) -> Raster {
        self.hr.raster
    }

    /// Whether the LR is the HR's own decimation `HR[::f, ::f]`, value for value (strided geometry):
    /// then every patch cut from the HR lies exactly where it is cut, and there is nothing to register.
    pub fn lr_is_the_decimation(&self) -> bool {
        let Some(f) = self.step.filter(|_| self.geometry == LrGeometry::Strided) else { return false };
        self.lr.data.indexed_iter().all(|((r, c), &v)| self.hr.data.get((f * r, f * c)).is_some_and(|&h| h == v))
    }

    /// One line saying how the LR was placed, e.g. "strided: LR pixel k on HR pixel 4k (HR[::4, ::4])".
    pub fn describe_geometry(&self) -> String {
        match (self.geometry, self.step) {
            (LrGeometry::Strided, Some(f)) => format!("strided: LR pixel k on HR pixel {f}·k (LR = HR[::{f}, ::{f}])"),
            (LrGeometry::Physical, _) => "physical: both files' own scan regions".into(),
            (LrGeometry::Corner, _) => "corner: LR over the HR region, first and last pixels on its edges".into(),
            (g, _) => g.name().into(),
        }
    }
}

/// Population standard deviation of an image.
fn std_dev(a: &Array2<f32>) -> f64 {
    let n = a.len().max(1) as f64;
    let mean = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    (a.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn image(n: usize, known: bool) -> LrImage {
        let region = ScanRegion::square(0.0, 0.0, (n - 1) as f64 * 1e-9);
        LrImage {
            path: PathBuf::from(format!("{n}.npy")),
            data: Array2::zeros((n, n)),
            region,
            raster: Raster::square(n),
            geometry_known: known,
            channel: "HeightTrace".into(),
            unit: "m".into(),
        }
    }

    /// An HR image of `n` × `n` px whose every value says where it lies, and its decimation `HR[::4, ::4]`.
    fn strided_pair(n: usize) -> (LrImage, LrImage) {
        let mut hr = image(n, false);
        hr.data = Array2::from_shape_fn((n, n), |(r, c)| (r * 1000 + c) as f32);
        let mut lr = image(n.div_ceil(4), false);
        lr.data = hr.data.slice(ndarray::s![..;4, ..;4]).to_owned();
        (hr, lr)
    }

    #[test]
    fn a_pair_the_grid_cannot_tile_is_cut_to_its_centred_part_a_strided_one_staying_strided() {
        let (hr, lr) = strided_pair(350);
        let cut = ImagePair::new(hr.clone(), lr, LrGeometry::Auto).unwrap().cut_for_grid(8).unwrap();
        // 320 px: 8 tiles of 40 px, each 10 LR px; starting on an LR pixel (12 = 4 · 3), near the centre (15)
        assert_eq!(cut.hr_crop, Some(PixelRect { col: 12, row: 12, cols: 320, rows: 320 }));
        assert_eq!((cut.hr.raster, cut.lr.raster), (Raster::square(320), Raster::square(80)));
        assert_eq!(cut.hr.data, hr.data.slice(ndarray::s![12..332, 12..332]));
        assert!(cut.lr_is_the_decimation() && cut.step == Some(4));
        // the part keeps the file's pitch
        assert!((cut.hr.region.pitch_m(&cut.hr.raster).0 - 1e-9).abs() < 1e-21);
        // a pair the grid tiles stays whole
        let (hr, lr) = strided_pair(256);
        assert_eq!(ImagePair::new(hr, lr, LrGeometry::Auto).unwrap().cut_for_grid(8).unwrap().hr_crop, None);
        // a pair placed by its files' regions, or corner to corner, is cut to its centred 320 px (from
        // pixel 15) and its LR, whole, stays where it lay over the file
        let over_the_same_area = LrImage { region: image(350, true).region, ..image(88, true) };
        for geometry in [LrGeometry::Physical, LrGeometry::Corner] {
            let whole = ImagePair::new(image(350, true), over_the_same_area.clone(), geometry).unwrap();
            let (cols, rows) = whole.map.source_coordinates().unwrap();
            let cut = whole.clone().cut_for_grid(8).unwrap();
            assert_eq!(cut.hr_crop, Some(PixelRect { col: 15, row: 15, cols: 320, rows: 320 }), "{geometry:?}");
            assert_eq!((cut.hr.raster, cut.lr.raster, cut.geometry), (Raster::square(320), Raster::square(88), geometry));
            let (cut_cols, cut_rows) = cut.map.source_coordinates().unwrap();
            for k in [0, 160, 319] {
                assert!((cut_cols[k] - cols[15 + k]).abs() < 1e-9 && (cut_rows[k] - rows[15 + k]).abs() < 1e-9, "{geometry:?} pixel {k}");
            }
        }
    }

    #[test]
    fn an_overview_is_resampled_over_the_zoom_for_the_selection_and_an_lr_of_the_hrs_area_is_not() {
        // the zoom: 64 px over 1 µm, centred at (−0.8, 0.5) µm; the overview: 48 px over 3 µm at 0
        let x_nm = |r: &ScanRegion, n: usize, c: usize| -> f32 {
            ((r.center_x_m - r.width_m / 2.0 + c as f64 * r.width_m / (n - 1) as f64) * 1e9) as f32
        };
        let hr = LrImage { region: ScanRegion::square(-0.8e-6, 0.5e-6, 1e-6), ..image(64, true) };
        let mut overview = LrImage { region: ScanRegion::square(0.0, 0.0, 3e-6), ..image(48, true) };
        overview.data = Array2::from_shape_fn((48, 48), |(_, c)| x_nm(&overview.region, 48, c)); // each value: its x, nm
        let pair = ImagePair::new(hr.clone(), overview.clone(), LrGeometry::Physical).unwrap();
        let lr = pair.lr_for_selection(8).unwrap();
        // 1 µm at the overview's pitch (3 µm / 47) is 16.7 px: 16 px, 8 tiles of 2 px, over the zoom's region
        assert_eq!((lr.raster, lr.region), (Raster::square(16), hr.region));
        for c in [0, 7, 15] {
            let want = x_nm(&hr.region, 16, c);
            assert!((lr.data[[5, c]] - want).abs() < 1e-3, "column {c}: {} nm, not {want} nm", lr.data[[5, c]]);
        }
        // an LR over the HR's own area (within a pixel) is selected on as it is
        let same_area = LrImage { region: ScanRegion::square(-0.8e-6, 0.5e-6, 1.01e-6), ..overview.clone() };
        let whole = ImagePair::new(hr.clone(), same_area.clone(), LrGeometry::Physical).unwrap().lr_for_selection(8).unwrap();
        assert_eq!((whole.raster, whole.data), (same_area.raster, same_area.data));
        // and so is a corner pair, whatever the regions say, until its HR is cut to a part
        let corner = ImagePair::new(hr, overview.clone(), LrGeometry::Corner).unwrap();
        assert_eq!(corner.lr_for_selection(8).unwrap().data, overview.data);
        let part = ImagePair::new(image(350, false), image(88, false), LrGeometry::Corner).unwrap().cut_for_grid(8).unwrap();
        assert_eq!(part.hr.raster, Raster::square(320));
        // 88 px over 350 px, of which the part keeps 320 (3.7 LR px cut at each side): 79.5 LR px across, so 80 px
        let lr = part.lr_for_selection(8).unwrap();
        assert_eq!((lr.raster, lr.region), (Raster::square(80), part.hr.region));
    }

    #[test]
    fn npy_pairs_default_to_strided_and_bad_sizes_name_both_files() {
        let pair = ImagePair::new(image(64, false), image(16, false), LrGeometry::Auto).unwrap();
        assert_eq!((pair.geometry, pair.step), (LrGeometry::Strided, Some(4)));
        let (cols, _) = pair.map.source_coordinates().unwrap();
        assert!((cols[40] - 10.0).abs() < 1e-9);
        let err = ImagePair::new(image(64, false), image(20, false), LrGeometry::Auto).unwrap_err().to_string();
        assert!(err.contains("64.npy (64×64 px) and 20.npy (20×20 px)"), "{err}");
        let err = ImagePair::new(image(64, false), image(16, false), LrGeometry::Physical).unwrap_err().to_string();
        assert!(err.contains("no physical geometry"), "{err}");
        let corner = ImagePair::new(image(64, false), image(20, false), LrGeometry::Corner).unwrap();
        let (cols, _) = corner.map.source_coordinates().unwrap();
        assert!((cols[63] - 19.0).abs() < 1e-9);
        let small = ImagePair::new(image(64, true), image(16, true), LrGeometry::Auto).unwrap_err().to_string();
        assert!(small.contains("does not cover"), "{small}");
        let mut lr = image(16, true);
        lr.region = image(64, true).region;
        let known = ImagePair::new(image(64, true), lr, LrGeometry::Auto).unwrap();
        assert_eq!(known.geometry, LrGeometry::Physical);
    }

    #[test]
    fn an_lr_is_the_decimation_only_when_it_holds_the_hrs_own_values_on_the_strided_grid() {
        let mut hr = image(64, false);
        hr.data = Array2::from_shape_fn((64, 64), |(r, c)| (r * 64 + c) as f32);
        let mut lr = image(16, false);
        lr.data = hr.data.slice(ndarray::s![..;4, ..;4]).to_owned();
        assert!(ImagePair::new(hr.clone(), lr.clone(), LrGeometry::Auto).unwrap().lr_is_the_decimation());
        // the same values taken as an LR scanned over the HR's area: not the decimation
        assert!(!ImagePair::new(hr.clone(), lr.clone(), LrGeometry::Corner).unwrap().lr_is_the_decimation());
        // one value differs (another scan of the area, noise): registration has something to find
        lr.data[[3, 5]] += 0.5;
        assert!(!ImagePair::new(hr, lr, LrGeometry::Auto).unwrap().lr_is_the_decimation());
    }
}
