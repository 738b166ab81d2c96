//! The learned linear input filter: a small convolution kernel, fitted by least squares on the
//! acquired patches, that maps the fair baseline (the bicubic of the LR) onto what the patches
//! measured. It undoes the linear part of what the LR's pixel averaging, interpolation and fast scan
//! do to the surface — a sharpening the data of the run itself decides — and the network learns what
//! is left. Its taps sum to 1, so a flat region (and any offset) passes through unchanged.

use ndarray::{s, Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file a model folder keeps its input filter in.
pub const INPUT_FILTER_FILE: &str = "input_filter.json";

/// Ridge regularisation of the fit, relative to the mean diagonal of the normal equations: enough to
/// keep taps the data cannot pin down (a featureless direction) near 0, far too little to bias the rest.
const RIDGE_RELATIVE: f64 = 1e-3;

/// A square convolution kernel of side 2·`radius_px` + 1 (row-major, rows = lines), taps summing to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFilter {
    /// Half-width of the kernel, pixels of the grid it runs on.
    pub radius_px: usize,
    /// The taps, row-major, (2·radius_px + 1)² of them.
    pub taps: Vec<f64>,
    /// Pixels it was fitted on.
    pub fitted_px: usize,
}

/// Why an input filter could not be fitted, saved or read.
#[derive(Debug, thiserror::Error)]
pub enum InputFilterError {
    /// A sample's input is not its target grown by the margin.
    #[error("a sample's input is {input:?}, its target {target:?}: the input must be 2 × {radius} px larger")]
    Shape {
        /// Input shape.
        input: (usize, usize),
        /// Target shape.
        target: (usize, usize),
        /// The kernel radius.
        radius: usize,
    },
    /// Too few pixels, or the normal equations could not be solved.
    #[error("{0}")]
    Fit(String),
    /// Reading or writing the file failed.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
}

impl InputFilter {
    /// The kernel that changes nothing.
    pub fn identity(radius_px: usize) -> Self {
        let side = 2 * radius_px + 1;
        let mut taps = vec![0.0; side * side];
        taps[side * side / 2] = 1.0;
        Self { radius_px, taps, fitted_px: 0 }
    }

    /// Side of the kernel, pixels.
    pub fn side(&self) -> usize {
        2 * self.radius_px + 1
    }

    /// Fits the kernel of half-width `radius_px` by ridge least squares over every pixel of
    /// `samples`: (input, target) pairs whose input is the target's window grown by `radius_px` on
    /// each side. The taps are constrained to sum to 1 (the centre tap takes what the others leave).
    pub fn fit(samples: &[(ArrayView2<f32>, ArrayView2<f32>)], radius_px: usize) -> Result<Self, InputFilterError> {
        let parts =
            samples.iter().map(|(input, target)| NormalEquations::of_sample(*input, *target, radius_px)).collect::<Result<Vec<_>, _>>()?;
        NormalEquations::sum(parts.iter(), radius_px).solve()
    }

    /// The kernel run over `input` (valid part only): the output is `input` less the margin of
    /// `radius_px` on each side.
    pub fn apply(&self, input: ArrayView2<f32>) -> Array2<f32> {
        let (side, r) = (self.side(), self.radius_px);
        let (rows, cols) = (input.nrows().saturating_sub(2 * r), input.ncols().saturating_sub(2 * r));
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            let window = input.slice(s![i..i + side, j..j + side]);
            window.iter().zip(&self.taps).map(|(&v, &w)| v as f64 * w).sum::<f64>() as f32
        })
    }

    /// Writes it as `input_filter.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), InputFilterError> {
        let path = dir.join(INPUT_FILTER_FILE);
        let json = serde_json::to_string_pretty(self).map_err(|e| InputFilterError::File { path: path.clone(), why: e.to_string() })?;
        std::fs::write(&path, json).map_err(|e| InputFilterError::File { path, why: e.to_string() })
    }

    /// Reads `input_filter.json` from `dir`; None when the folder has none (a model trained without).
    pub fn load(dir: &Path) -> Result<Option<Self>, InputFilterError> {
        let path = dir.join(INPUT_FILTER_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| InputFilterError::File { path: path.clone(), why: e.to_string() })?;
        let filter: Self = serde_json::from_str(&text).map_err(|e| InputFilterError::File { path: path.clone(), why: e.to_string() })?;
        if filter.taps.len() != filter.side() * filter.side() {
            let why =
                format!("taps: {} values for radius_px {} (needs {})", filter.taps.len(), filter.radius_px, filter.side() * filter.side());
            return Err(InputFilterError::File { path, why });
        }
        Ok(Some(filter))
    }
}

/// The normal equations of the constrained least-squares fit over some samples (the free taps:
/// every one but the centre, taken relative to the centre pixel). They add up, so that the fit
/// leaving out one sample is the sum of the others' ([`crate::pipeline`] cross-validates the filter
/// that way, one acquired piece at a time).
#[derive(Debug, Clone)]
pub struct NormalEquations {
    radius_px: usize,
    /// AᵀA, m × m row-major, upper triangle filled.
    ata: Vec<f64>,
    /// Aᵀb, m values.
    atb: Vec<f64>,
    /// Pixels summed.
    n: usize,
}

impl NormalEquations {
    /// None summed yet, for a kernel of half-width `radius_px`.
    pub fn empty(radius_px: usize) -> Self {
        let m = (2 * radius_px + 1).pow(2) - 1;
        Self { radius_px, ata: vec![0.0; m * m], atb: vec![0.0; m], n: 0 }
    }

    /// The equations of one (input, target) pair; `input` is `target`'s window grown by `radius_px`
    /// on each side.
    pub fn of_sample(input: ArrayView2<f32>, target: ArrayView2<f32>, radius_px: usize) -> Result<Self, InputFilterError> {
        let side = 2 * radius_px + 1;
        let centre = side * side / 2;
        let mut eq = Self::empty(radius_px);
        let m = eq.atb.len();
        let (rows, cols) = target.dim();
        if input.dim() != (rows + 2 * radius_px, cols + 2 * radius_px) {
            return Err(InputFilterError::Shape { input: input.dim(), target: target.dim(), radius: radius_px });
        }
        let mut d = vec![0.0f64; m];
        for r in 0..rows {
            for c in 0..cols {
                let window = input.slice(s![r..r + side, c..c + side]);
                let xc = window[[radius_px, radius_px]] as f64;
                let mut j = 0;
                for (k, &v) in window.iter().enumerate() {
                    if k != centre {
                        d[j] = v as f64 - xc;
                        j += 1;
                    }
                }
                let y = target[[r, c]] as f64 - xc;
                for a in 0..m {
                    eq.atb[a] += d[a] * y;
                    let row = &mut eq.ata[a * m..(a + 1) * m];
                    for b in a..m {
                        row[b] += d[a] * d[b];
                    }
                }
                eq.n += 1;
            }
        }
        Ok(eq)
    }

    /// The sum of `parts` (all of half-width `radius_px`).
    pub fn sum<'a>(parts: impl Iterator<Item = &'a Self>, radius_px: usize) -> Self {
        let mut total = Self::empty(radius_px);
        for p in parts.filter(|p| p.radius_px == radius_px) {
            total.ata.iter_mut().zip(&p.ata).for_each(|(t, v)| *t += v);
            total.atb.iter_mut().zip(&p.atb).for_each(|(t, v)| *t += v);
            total.n += p.n;
        }
        total
    }

    /// The filter these equations fit (ridge least squares, taps summing to 1).
    pub fn solve(&self) -> Result<InputFilter, InputFilterError> {
        let (radius_px, m) = (self.radius_px, self.atb.len());
        let side = 2 * radius_px + 1;
        let centre = side * side / 2;
        if self.n < 4 * (m + 1) {
            return Err(InputFilterError::Fit(format!("{} pixels are too few to fit a {side}×{side} kernel", self.n)));
        }
        let mut ata = self.ata.clone();
        for a in 0..m {
            for b in 0..a {
                ata[a * m + b] = ata[b * m + a];
            }
        }
        let ridge = RIDGE_RELATIVE * (0..m).map(|a| ata[a * m + a]).sum::<f64>() / m as f64;
        let free = solve_ridge(&ata, &self.atb, m, ridge.max(f64::MIN_POSITIVE))?;
        let mut taps = Vec::with_capacity(side * side);
        taps.extend_from_slice(&free[..centre]);
        taps.push(1.0 - free.iter().sum::<f64>());
        taps.extend_from_slice(&free[centre..]);
        Ok(InputFilter { radius_px, taps, fitted_px: self.n })
    }
}

/// Solves (A + ridge·I) x = b for the symmetric positive semi-definite `a` (m × m, row-major), with
/// libtorch's solver in f64 on the CPU.
fn solve_ridge(a: &[f64], b: &[f64], m: usize, ridge: f64) -> Result<Vec<f64>, InputFilterError> {
    use tch::{Device, Kind, Tensor};
    let size = m as i64;
    let lhs = Tensor::from_slice(a).reshape([size, size]) + Tensor::eye(size, (Kind::Double, Device::Cpu)) * ridge;
    let rhs = Tensor::from_slice(b).reshape([size, 1]);
    let x = Tensor::f_linalg_solve(&lhs, &rhs, true).map_err(|e| InputFilterError::Fit(format!("the normal equations: {e}")))?;
    let x: Vec<f64> = Vec::<f64>::try_from(x.reshape([size])).map_err(|e| InputFilterError::Fit(e.to_string()))?;
    if x.iter().all(|v| v.is_finite()) {
        Ok(x)
    } else {
        Err(InputFilterError::Fit("the normal equations are singular".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured test surface with content at every scale.
    fn surface(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut noise = Array2::from_shape_fn((rows, cols), |_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) as f32
        });
        // smooth it a little (pixel-scale content stays, so that every tap is pinned down), then add a slope
        let blurred = crate::filter::gaussian_blur(&noise.mapv(f64::from), 0.6, 0.6);
        noise.indexed_iter_mut().for_each(|((r, c), v)| *v = blurred[[r, c]] as f32 + 0.01 * r as f32);
        noise
    }

    #[test]
    fn a_known_kernel_summing_to_one_is_recovered() {
        // a sharpening along the fast axis and a blur across it, as an LR's response might need
        let mut truth = InputFilter::identity(2);
        truth.taps = vec![0.0; 25];
        let set = |t: &mut Vec<f64>, r: usize, c: usize, v: f64| t[r * 5 + c] = v;
        set(&mut truth.taps, 2, 1, -0.3);
        set(&mut truth.taps, 2, 3, -0.2);
        set(&mut truth.taps, 1, 2, 0.25);
        set(&mut truth.taps, 3, 2, 0.25);
        set(&mut truth.taps, 2, 2, 1.0);
        assert!((truth.taps.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let samples: Vec<(Array2<f32>, Array2<f32>)> = (0..4)
            .map(|k| {
                let input = surface(36, 36, k);
                let target = truth.apply(input.view());
                (input, target)
            })
            .collect();
        let views: Vec<_> = samples.iter().map(|(i, t)| (i.view(), t.view())).collect();
        let fitted = InputFilter::fit(&views, 2).unwrap();
        let worst = fitted.taps.iter().zip(&truth.taps).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 0.02, "taps off by {worst}: {:?}", fitted.taps);
        assert!((fitted.taps.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(fitted.fitted_px, 4 * 32 * 32);
    }

    #[test]
    fn a_flat_input_and_an_offset_pass_through_unchanged() {
        let samples: Vec<(Array2<f32>, Array2<f32>)> = (0..3)
            .map(|k| {
                let input = surface(30, 30, 10 + k);
                // the target: a blurred input (a fit that is not the identity)
                let blurred = crate::filter::gaussian_blur(&input.mapv(f64::from), 1.0, 1.0).mapv(|v| v as f32);
                (input, blurred.slice(s![3..27, 3..27]).to_owned())
            })
            .collect();
        let views: Vec<_> = samples.iter().map(|(i, t)| (i.view(), t.view())).collect();
        let fitted = InputFilter::fit(&views, 3).unwrap();
        assert!(fitted.taps[24] < 0.5, "a blur spreads the weight: centre tap {}", fitted.taps[24]);
        let flat = Array2::from_elem((20, 20), 7.5f32);
        let out = fitted.apply(flat.view());
        assert_eq!(out.dim(), (14, 14));
        assert!(out.iter().all(|&v| (v - 7.5).abs() < 1e-4), "{out:?}");
    }

    #[test]
    fn bad_samples_and_files_are_refused_with_what_is_wrong() {
        let input = Array2::<f32>::zeros((10, 10));
        let target = Array2::<f32>::zeros((10, 10));
        let err = InputFilter::fit(&[(input.view(), target.view())], 1).unwrap_err().to_string();
        assert!(err.contains("(10, 10)") && err.contains("2 × 1 px"), "{err}");
        let small = Array2::<f32>::zeros((3, 3));
        let err = InputFilter::fit(&[(small.view(), Array2::<f32>::zeros((1, 1)).view())], 1).unwrap_err().to_string();
        assert!(err.contains("too few"), "{err}");
        let dir = std::env::temp_dir().join(format!("afm-spark-input-filter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(InputFilter::load(&dir).unwrap().is_none());
        let f = InputFilter::identity(1);
        f.save(&dir).unwrap();
        assert_eq!(InputFilter::load(&dir).unwrap(), Some(f));
        std::fs::write(dir.join(INPUT_FILTER_FILE), r#"{"radius_px": 2, "taps": [1.0], "fitted_px": 0}"#).unwrap();
        let err = InputFilter::load(&dir).unwrap_err().to_string();
        assert!(err.contains(INPUT_FILTER_FILE) && err.contains("radius_px 2"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
