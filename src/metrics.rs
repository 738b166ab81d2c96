//! Image quality against a ground truth: PSNR and SSIM on the whole image and on the unacquired
//! region only, and the nearest/bicubic baselines (through `upsample::GridMap`, so they respect the
//! sampling geometry exactly like the model input x0).
//!
//! - PSNR = 10·log10(L² / MSE) with L = max − min of the **whole** ground truth (for the masked score
//!   too, so whole and masked values share one scale). Identical images give +∞.
//! - SSIM follows Wang et al. 2004 as scikit-image computes it with `gaussian_weights=True,
//!   sigma=1.5, use_sample_covariance=False, data_range=L`: Gaussian window σ 1.5 truncated at 3.5σ
//!   (11 taps), reflected borders, K1 0.01, K2 0.03, the SSIM map averaged over pixels at least 5 px
//!   from the border. The masked score averages the same map over the masked pixels (windows centred
//!   there, so they may see up to 5 px beyond the mask).

mod ssim;

pub use ssim::{ssim_map, SSIM_BORDER_PX};

use crate::upsample::{GridMap, GridMapError, Interpolation};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// Error of a metric.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// The images (or the mask) differ in shape.
    #[error("shape mismatch: prediction {pred:?}, ground truth {truth:?}, mask {mask:?}")]
    Shape {
        /// Prediction shape.
        pred: (usize, usize),
        /// Ground-truth shape.
        truth: (usize, usize),
        /// Mask shape, if any.
        mask: Option<(usize, usize)>,
    },
    /// The ground truth is flat (data range 0) or not finite.
    #[error("the ground truth has data range {0}: PSNR/SSIM are undefined")]
    DataRange(f64),
    /// The mask selects no pixel (no unacquired region, or none away from the border for SSIM).
    #[error("the mask selects no pixel")]
    EmptyMask,
}

/// A score on the whole image and on the unacquired region. Undefined values (+∞ PSNR of identical
/// images, NaN of an empty region) are written to JSON as `null` and read back as NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Over every pixel.
    #[serde(deserialize_with = "null_as_nan")]
    pub whole: f64,
    /// Over the pixels no measured HR patch covers.
    #[serde(deserialize_with = "null_as_nan")]
    pub unacquired: f64,
}

/// Reads a number that JSON may hold as `null` (serde_json writes ±∞ and NaN so) as NaN; for
/// `#[serde(deserialize_with = …)]`.
pub fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// PSNR (dB) and SSIM of one image against the ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageScores {
    /// PSNR, dB.
    pub psnr: Score,
    /// SSIM (1 = identical).
    pub ssim: Score,
}

/// One metric (PSNR or SSIM) of every image a run compares, each on the whole image and on the
/// unacquired region. The model's rows are absent when no model was trained (the full-scan reference).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MethodScores {
    /// What the run delivers: SR, or the fair baseline when the guard rejected SR.
    pub delivered: Score,
    /// The model's reconstruction with the measured patches pasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sr: Option<Score>,
    /// The model's reconstruction before pasting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sr_unpasted: Option<Score>,
    /// The fair baseline (DESIGN.md §1.7): bicubic of the levelled, registered LR with gain and offset
    /// fitted on the acquired pixels, measured patches pasted.
    pub fair_baseline: Score,
    /// Bicubic of the levelled LR without the fit (reference).
    pub bicubic: Score,
    /// Nearest of the levelled LR (reference).
    pub nearest: Score,
}

/// The images a run is scored on, all on the HR grid.
#[derive(Debug, Clone, Copy)]
pub struct ScoredImages<'a> {
    /// What the run delivers.
    pub delivered: ArrayView2<'a, f32>,
    /// The model's reconstruction, pasted, and before pasting (None without a model).
    pub sr: Option<(ArrayView2<'a, f32>, ArrayView2<'a, f32>)>,
    /// The fair baseline, pasted.
    pub fair_baseline: ArrayView2<'a, f32>,
    /// Bicubic of the levelled LR.
    pub bicubic: ArrayView2<'a, f32>,
    /// Nearest of the levelled LR.
    pub nearest: ArrayView2<'a, f32>,
}

/// PSNR and SSIM of every compared image: the one score type of `metrics.json`, `eval` and `fuse`.
/// Serialises as `{"psnr": {"delivered": {"whole", "unacquired"}, "sr": …, …}, "ssim": {…}}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// PSNR, dB (data range of the ground truth).
    pub psnr: MethodScores,
    /// SSIM (Gaussian window 11, σ 1.5).
    pub ssim: MethodScores,
}

impl Quality {
    /// Scores `images` against `truth`; `acquired` marks the measured patches.
    pub fn of(images: &ScoredImages<'_>, truth: ArrayView2<f32>, acquired: ArrayView2<bool>) -> Result<Self, MetricsError> {
        let s = |p: ArrayView2<f32>| score(p, truth, acquired);
        let delivered = s(images.delivered)?;
        let sr = images.sr.map(|(pasted, raw)| Ok::<_, MetricsError>((s(pasted)?, s(raw)?))).transpose()?;
        let (fair, bicubic, nearest) = (s(images.fair_baseline)?, s(images.bicubic)?, s(images.nearest)?);
        let pick = |f: fn(&ImageScores) -> Score| MethodScores {
            delivered: f(&delivered),
            sr: sr.as_ref().map(|(p, _)| f(p)),
            sr_unpasted: sr.as_ref().map(|(_, r)| f(r)),
            fair_baseline: f(&fair),
            bicubic: f(&bicubic),
            nearest: f(&nearest),
        };
        Ok(Self { psnr: pick(|s| s.psnr), ssim: pick(|s| s.ssim) })
    }

    /// Delivered minus fair baseline, PSNR on the unacquired region, dB.
    pub fn gain_unacquired_db(&self) -> f64 {
        self.psnr.delivered.unacquired - self.psnr.fair_baseline.unacquired
    }
}

/// max − min of the ground truth.
pub fn data_range(truth: ArrayView2<f32>) -> Result<f64, MetricsError> {
    let (lo, hi) = truth.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v as f64), hi.max(v as f64)));
    let range = hi - lo;
    if range > 0.0 && range.is_finite() {
        Ok(range)
    } else {
        Err(MetricsError::DataRange(range))
    }
}

fn check(pred: ArrayView2<f32>, truth: ArrayView2<f32>, mask: Option<ArrayView2<bool>>) -> Result<(), MetricsError> {
    let ok = pred.dim() == truth.dim() && mask.is_none_or(|m| m.dim() == truth.dim());
    if ok {
        Ok(())
    } else {
        Err(MetricsError::Shape { pred: pred.dim(), truth: truth.dim(), mask: mask.map(|m| m.dim()) })
    }
}

/// PSNR in dB over the pixels where `mask` is true (all pixels when `None`); +∞ for a perfect match.
pub fn psnr(pred: ArrayView2<f32>, truth: ArrayView2<f32>, mask: Option<ArrayView2<bool>>) -> Result<f64, MetricsError> {
    check(pred, truth, mask)?;
    let range = data_range(truth)?;
    let (mut sse, mut n) = (0.0f64, 0usize);
    for ((idx, &p), &t) in pred.indexed_iter().zip(truth.iter()) {
        if mask.is_none_or(|m| m[idx]) {
            sse += (p as f64 - t as f64).powi(2);
            n += 1;
        }
    }
    if n == 0 {
        return Err(MetricsError::EmptyMask);
    }
    Ok(10.0 * (range * range / (sse / n as f64)).log10())
}

/// Mean SSIM over the pixels where `mask` is true (all pixels when `None`), border excluded.
pub fn ssim(pred: ArrayView2<f32>, truth: ArrayView2<f32>, mask: Option<ArrayView2<bool>>) -> Result<f64, MetricsError> {
    check(pred, truth, mask)?;
    let range = data_range(truth)?;
    let map = ssim_map(pred, truth, range);
    let (rows, cols) = map.dim();
    let b = SSIM_BORDER_PX;
    let (mut sum, mut n) = (0.0f64, 0usize);
    for r in b..rows.saturating_sub(b) {
        for c in b..cols.saturating_sub(b) {
            if mask.is_none_or(|m| m[[r, c]]) {
                sum += map[[r, c]];
                n += 1;
            }
        }
    }
    if n == 0 {
        return Err(MetricsError::EmptyMask);
    }
    Ok(sum / n as f64)
}

/// PSNR and SSIM on the whole image and on the unacquired region (`acquired` false). When every
/// pixel was acquired (e.g. the "all tiles" reference) the unacquired scores are NaN (JSON `null`).
pub fn score(pred: ArrayView2<f32>, truth: ArrayView2<f32>, acquired: ArrayView2<bool>) -> Result<ImageScores, MetricsError> {
    let unacquired = acquired.mapv(|a| !a);
    let masked = |r: Result<f64, MetricsError>| match r {
        Err(MetricsError::EmptyMask) => Ok(f64::NAN),
        other => other,
    };
    Ok(ImageScores {
        psnr: Score { whole: psnr(pred, truth, None)?, unacquired: masked(psnr(pred, truth, Some(unacquired.view())))? },
        ssim: Score { whole: ssim(pred, truth, None)?, unacquired: masked(ssim(pred, truth, Some(unacquired.view())))? },
    })
}

/// A baseline: the LR frame resampled onto the HR grid by `method` (nearest or bicubic), with the
/// geometry of `map`.
pub fn baseline(lr: ArrayView2<f32>, map: &GridMap, method: Interpolation) -> Result<Array2<f32>, GridMapError> {
    map.resample(lr, method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upsample::strided_region;
    use afm_drivers::{Raster, ScanRegion};

    #[test]
    fn fully_acquired_image_scores_nan_on_the_unacquired_region() {
        let t = ramp(16);
        let p = t.mapv(|v| v + 0.01);
        let all = Array2::from_elem((16, 16), true);
        let s = score(p.view(), t.view(), all.view()).unwrap();
        assert!(s.psnr.unacquired.is_nan() && s.ssim.unacquired.is_nan());
        assert!(s.psnr.whole.is_finite() && s.ssim.whole > 0.9);
        let back: Score = serde_json::from_str(&serde_json::to_string(&s.psnr).unwrap()).unwrap();
        assert!(back.unacquired.is_nan() && back.whole == s.psnr.whole);
    }

    fn ramp(n: usize) -> Array2<f32> {
        Array2::from_shape_fn((n, n), |(r, c)| ((r * 7 + c * 3) % 23) as f32 / 22.0)
    }

    #[test]
    fn identical_images_score_infinity_and_one() {
        let a = ramp(32);
        assert_eq!(psnr(a.view(), a.view(), None).unwrap(), f64::INFINITY);
        assert!((ssim(a.view(), a.view(), None).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_constant_offset_gives_the_known_psnr() {
        let truth = ramp(32); // data range exactly 1
        let pred = truth.mapv(|v| v + 0.1);
        // MSE = 0.01 → PSNR = 10·log10(1/0.01) = 20 dB
        assert!((psnr(pred.view(), truth.view(), None).unwrap() - 20.0).abs() < 1e-5);
    }

    #[test]
    fn ssim_and_psnr_match_scikit_image() {
        // Reference: skimage 0.26 structural_similarity(truth, pred, data_range=L, gaussian_weights=True,
        // sigma=1.5, use_sample_covariance=False) and peak_signal_noise_ratio(truth, pred, data_range=L).
        let truth = Array2::from_shape_fn((37, 29), |(r, c)| {
            let (r, c) = (r as f32, c as f32);
            (0.3 * r).sin() + (0.17 * c).cos() + 0.5 * (0.05 * r * c).sin()
        });
        let pred = Array2::from_shape_fn((37, 29), |(r, c)| truth[[r, c]] + 0.2 * (1.3 * r as f32 + 0.7 * c as f32).sin());
        assert!((ssim(pred.view(), truth.view(), None).unwrap() - 0.948_681_712_178_458_9).abs() < 1e-5);
        assert!((psnr(pred.view(), truth.view(), None).unwrap() - 30.815_385_582_049_77).abs() < 1e-3);
    }

    #[test]
    fn masked_scores_use_only_masked_pixels() {
        let truth = ramp(40);
        let mut pred = truth.clone();
        let mut mask = Array2::from_elem((40, 40), true);
        // spoil the left half, mask it out
        for r in 0..40 {
            for c in 0..20 {
                pred[[r, c]] += 0.5;
                mask[[r, c]] = false;
            }
        }
        assert_eq!(psnr(pred.view(), truth.view(), Some(mask.view())).unwrap(), f64::INFINITY);
        // SSIM windows reach 5 px: mask only columns ≥ 26 for an exact 1
        let far = Array2::from_shape_fn((40, 40), |(_, c)| c >= 26);
        assert!((ssim(pred.view(), truth.view(), Some(far.view())).unwrap() - 1.0).abs() < 1e-12);
        assert!(ssim(pred.view(), truth.view(), None).unwrap() < 0.9);
        let none = Array2::from_elem((40, 40), false);
        assert_eq!(psnr(pred.view(), truth.view(), Some(none.view())), Err(MetricsError::EmptyMask));
    }

    #[test]
    fn score_reports_whole_and_unacquired() {
        let truth = ramp(32);
        let mut pred = truth.clone();
        pred[[3, 3]] += 1.0; // an error inside the acquired block
        let acquired = Array2::from_shape_fn((32, 32), |(r, c)| r < 8 && c < 8);
        let s = score(pred.view(), truth.view(), acquired.view()).unwrap();
        // whole: MSE = 1/1024 → 30.103 dB
        assert!((s.psnr.whole - 10.0 * 1024f64.log10()).abs() < 1e-5);
        assert_eq!(s.psnr.unacquired, f64::INFINITY);
        assert!(s.ssim.whole < 1.0);
    }

    #[test]
    fn quality_has_the_metrics_json_shape() {
        let truth = ramp(32);
        let worse = truth.mapv(|v| v + 0.1);
        let acquired = Array2::from_shape_fn((32, 32), |(r, c)| r < 8 && c < 8);
        let images =
            ScoredImages { delivered: truth.view(), sr: None, fair_baseline: worse.view(), bicubic: worse.view(), nearest: worse.view() };
        let q = Quality::of(&images, truth.view(), acquired.view()).unwrap();
        let v = serde_json::to_value(q).unwrap();
        assert!((v["psnr"]["fair_baseline"]["unacquired"].as_f64().unwrap() - 20.0).abs() < 1e-5);
        assert!(v["psnr"]["delivered"]["whole"].is_null()); // +∞ has no JSON number
        assert!(v["psnr"].get("sr").is_none(), "no model, no SR row");
        assert!((v["ssim"]["delivered"]["whole"].as_f64().unwrap() - 1.0).abs() < 1e-12);
        let back: Quality = serde_json::from_value(v).unwrap();
        assert!(back.psnr.delivered.whole.is_nan() && back.psnr.sr.is_none());
    }

    #[test]
    fn baselines_put_lr_pixels_on_their_hr_pixels() {
        let hr_region = ScanRegion::square(0.0, 0.0, 63e-9);
        let hr_raster = Raster::square(64);
        let lr_raster = Raster::square(16);
        let map = GridMap {
            src_region: strided_region(&hr_region, &hr_raster, 4, &lr_raster),
            src_raster: lr_raster,
            dst_region: hr_region,
            dst_raster: hr_raster,
        };
        let lr = ramp(16);
        let bic = baseline(lr.view(), &map, Interpolation::Bicubic).unwrap();
        let nn = baseline(lr.view(), &map, Interpolation::Nearest).unwrap();
        assert_eq!((bic[[20, 36]], nn[[21, 37]]), (lr[[5, 9]], lr[[5, 9]]));
    }
}
