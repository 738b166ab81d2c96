//! Scoring against a ground truth: the truth made comparable (levelled like the LR, brought onto the
//! measured patches' reference), then PSNR/SSIM of the delivered image, the model's reconstruction,
//! the fair baseline and the references, on the whole image and on the unacquired region.

use super::model_stage::ModelOutcome;
use super::prepare::Prepared;
use super::PipelineError;
use crate::ground_truth::comparable_truth;
use crate::level::LevelConfig;
use crate::metrics::{Quality, ScoredImages};
use crate::register::GainOffset;
use ndarray::Array2;

/// How well the uncertainty map predicts the real error |SR − truth| on the unacquired region.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Spearman rank correlation over the tiles of an 8 × 8 tiling (mean uncertainty vs mean error
    /// of each tile's unacquired pixels).
    pub spearman_tiles: f64,
    /// Spearman rank correlation over the unacquired pixels.
    pub spearman_pixels: f64,
    /// Pearson correlation over the unacquired pixels.
    pub pearson_pixels: f64,
}

/// A run's scores and the truth they were computed against.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// PSNR/SSIM of every compared image.
    pub quality: Quality,
    /// The uncertainty map's calibration, when a model made one.
    pub calibration: Option<Calibration>,
    /// The comparable ground truth on the HR grid.
    pub truth: Array2<f32>,
    /// The fit that brought the levelled truth onto the measured patches.
    pub fit: GainOffset,
}

/// Scores everything `prepared` and `model` produced against `raw_truth` (on the HR grid).
pub fn score_against(
    prepared: &Prepared,
    model: Option<&ModelOutcome>,
    raw_truth: &Array2<f32>,
    level: &LevelConfig,
    seam_px: usize,
) -> Result<Scored, PipelineError> {
    let (truth, fit) = comparable_truth(raw_truth, prepared, level)?;
    let fair = prepared.fair_pasted(seam_px)?;
    let images = ScoredImages {
        delivered: model.map(|m| m.delivered.view()).unwrap_or(fair.view()),
        sr: model.map(|m| (m.sr.view(), m.sr_unpasted.view())),
        fair_baseline: fair.view(),
        bicubic: prepared.bicubic.view(),
        nearest: prepared.nearest.view(),
    };
    let quality = Quality::of(&images, truth.view(), prepared.acquired.view())?;
    let calibration = model.map(|m| calibration(&m.uncertainty, &m.sr_unpasted, &truth, &prepared.acquired));
    Ok(Scored { quality, calibration, truth, fit })
}

/// Correlations of `uncertainty` with |`sr` − `truth`| over the pixels not `acquired`.
pub fn calibration(uncertainty: &Array2<f32>, sr: &Array2<f32>, truth: &Array2<f32>, acquired: &Array2<bool>) -> Calibration {
    let (mut u, mut e) = (Vec::new(), Vec::new());
    for (((&a, &s), &t), &un) in acquired.iter().zip(sr.iter()).zip(truth.iter()).zip(uncertainty.iter()) {
        if !a {
            u.push(un as f64);
            e.push((s as f64 - t as f64).abs());
        }
    }
    let (rows, cols) = truth.dim();
    let grid = 8;
    let (mut tu, mut te) = (Vec::new(), Vec::new());
    for tr in 0..grid {
        for tc in 0..grid {
            let (r0, r1, c0, c1) = (tr * rows / grid, (tr + 1) * rows / grid, tc * cols / grid, (tc + 1) * cols / grid);
            let (mut su, mut se, mut n) = (0.0, 0.0, 0usize);
            for r in r0..r1 {
                for c in c0..c1 {
                    if !acquired[[r, c]] {
                        su += uncertainty[[r, c]] as f64;
                        se += (sr[[r, c]] as f64 - truth[[r, c]] as f64).abs();
                        n += 1;
                    }
                }
            }
            if n > 0 {
                tu.push(su / n as f64);
                te.push(se / n as f64);
            }
        }
    }
    Calibration { spearman_tiles: spearman(&tu, &te), spearman_pixels: spearman(&u, &e), pearson_pixels: pearson(&u, &e) }
}

/// Pearson correlation (0 when either side is constant or empty).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

/// Spearman rank correlation (ties get their mean rank).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut k = 0;
    while k < order.len() {
        let mut end = k;
        while end + 1 < order.len() && v[order[end + 1]] == v[order[k]] {
            end += 1;
        }
        let mean_rank = (k + end) as f64 / 2.0;
        for &i in &order[k..=end] {
            r[i] = mean_rank;
        }
        k = end + 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_correlations_see_monotone_relations_and_ties() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [1.0, 4.0, 9.0, 16.0, 100.0];
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        assert!(pearson(&a, &b) < 0.95);
        assert!((spearman(&a, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[3.0, 1.0, 3.0]), vec![1.5, 0.0, 1.5]);
        assert_eq!(pearson(&a, &[2.0; 5]), 0.0);
    }
}
