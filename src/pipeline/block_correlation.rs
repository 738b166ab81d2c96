//! How sure a gain paired over blocks of held-out pixels is when neighbouring blocks are alike: the
//! blocks' neighbour correlation, the variance inflation it implies, the effective number of
//! independent blocks, and the Student's t those need.
//!
//! The guard compares SR's and the fair baseline's squared errors block by block. Where the errors
//! of an upsampling move together over more than a block (a relief smeared by a fast scan, an edge
//! crossing a patch), the blocks are not independent and their plain t overstates the evidence.
//! The blocks of each piece form a grid; the correlation of horizontal and vertical neighbours is
//! measured on it (deviations from the mean over every piece, so that a piece lying above or below
//! the others counts as correlation within it), and the variance of the mean is inflated as for a
//! first-order autoregressive field of that correlation over each piece's grid. A piece whose blocks
//! all move together counts as one block; blocks that do not count as themselves.

use crate::metrics::null_as_nan;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The blocks of one piece: `rows × cols`, row by row, starting at `first` in the pooled values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockGrid {
    /// Index of the piece's first block among all blocks.
    pub first: usize,
    /// Blocks down the piece.
    pub rows: usize,
    /// Blocks across the piece.
    pub cols: usize,
}

/// A paired gain over correlated blocks: the plain t, the neighbours' correlation, and what is left
/// of the t once that correlation is allowed for. An infinite t (every block the same gain) is
/// written to JSON as `null` and read back as NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CorrelatedT {
    /// Student's t of the mean over the blocks taken as independent.
    #[serde(deserialize_with = "null_as_nan")]
    pub t: f64,
    /// Correlation of vertically neighbouring blocks (clamped to 0 … 0.99: an anticorrelation is
    /// given no credit).
    pub rho_down: f64,
    /// Correlation of horizontally neighbouring blocks (clamped likewise).
    pub rho_across: f64,
    /// Number of blocks.
    pub n_blocks: usize,
    /// How many independent blocks they are worth: `n_blocks` ÷ the variance inflation.
    #[serde(deserialize_with = "null_as_nan")]
    pub n_effective: f64,
    /// `t` ÷ √(variance inflation).
    #[serde(deserialize_with = "null_as_nan")]
    pub t_effective: f64,
}

impl CorrelatedT {
    /// Whether the gain is as sure as a normal variable at `min_t`: `t_effective` above Student's
    /// quantile with `n_effective` − 1 degrees of freedom at that confidence.
    pub fn is_sure(&self, min_t: f64) -> bool {
        self.t_effective > t_needed(min_t, self.n_effective - 1.0)
    }

    /// The t it needs at `min_t` (see [`Self::is_sure`]).
    pub fn needed(&self, min_t: f64) -> f64 {
        t_needed(min_t, self.n_effective - 1.0)
    }
}

/// The largest neighbour correlation taken at face value; a field this correlated is one block per
/// piece as near as makes no difference.
const MAX_RHO: f64 = 0.99;

/// The paired gain `values` (one per block, laid out by `grids`) with its correlation allowed for.
/// `t` is the plain Student's t of their mean (`plain_t`, computed by the caller as for independent
/// blocks).
pub fn correlated_t(values: &[f64], grids: &[BlockGrid], plain_t: f64) -> CorrelatedT {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n.max(1) as f64;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
    let deviation = |g: &BlockGrid, r: usize, c: usize| values.get(g.first + r * g.cols + c).map_or(0.0, |v| v - mean);
    let (mut down, mut n_down, mut across, mut n_across) = (0.0f64, 0usize, 0.0f64, 0usize);
    for g in grids {
        for r in 0..g.rows {
            for c in 0..g.cols {
                let here = deviation(g, r, c);
                if r + 1 < g.rows {
                    down += here * deviation(g, r + 1, c);
                    n_down += 1;
                }
                if c + 1 < g.cols {
                    across += here * deviation(g, r, c + 1);
                    n_across += 1;
                }
            }
        }
    }
    let rho = |sum: f64, pairs: usize| {
        let r = if pairs > 0 && variance > 0.0 { sum / pairs as f64 / variance } else { 0.0 };
        if r.is_finite() {
            r.clamp(0.0, MAX_RHO)
        } else {
            0.0
        }
    };
    let (rho_down, rho_across) = (rho(down, n_down), rho(across, n_across));
    let weighted: f64 =
        grids.iter().map(|g| (g.rows * g.cols) as f64 * line_inflation(g.rows, rho_down) * line_inflation(g.cols, rho_across)).sum();
    let covered: usize = grids.iter().map(|g| g.rows * g.cols).sum();
    let inflation = if covered > 0 { (weighted / covered as f64).max(1.0) } else { 1.0 };
    CorrelatedT {
        t: plain_t,
        rho_down,
        rho_across,
        n_blocks: n,
        n_effective: n as f64 / inflation,
        t_effective: plain_t / inflation.sqrt(),
    }
}

/// The variance of the mean of `n` values in a line whose neighbours correlate by `rho` (first-order
/// autoregressive), relative to `n` independent ones: 1 + 2 Σₖ (1 − k/n) ρᵏ, from 1 (ρ = 0) to `n`
/// (ρ → 1).
pub fn line_inflation(n: usize, rho: f64) -> f64 {
    let nf = n as f64;
    1.0 + 2.0 * (1..n).map(|k| (1.0 - k as f64 / nf) * rho.powi(k as i32)).sum::<f64>()
}

/// The t that a mean over samples with `dof` degrees of freedom must exceed to be as sure as a normal
/// variable at `min_t`: Student's quantile at the normal distribution's one-sided confidence of
/// `min_t` (2 → 97.7 %: 2.43 at 7 degrees of freedom, 2.14 at 19). Infinite below one degree of
/// freedom (nothing can be sure); fractional degrees of freedom are allowed.
pub fn t_needed(min_t: f64, dof: f64) -> f64 {
    let confidence = Normal::standard().cdf(min_t);
    match StudentsT::new(0.0, 1.0, dof) {
        Ok(t) if dof >= 1.0 => t.inverse_cdf(confidence),
        _ => f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pieces` grids of `side × side` blocks, laid out one after the other.
    fn grids(pieces: usize, side: usize) -> Vec<BlockGrid> {
        (0..pieces).map(|p| BlockGrid { first: p * side * side, rows: side, cols: side }).collect()
    }

    /// A deterministic pseudo-random value in −1 … 1.
    fn noise(i: usize) -> f64 {
        let x = (i as u64 + 1).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((x >> 33) as f64 / (1u64 << 31) as f64) - 1.0
    }

    #[test]
    fn the_inflation_of_a_line_runs_from_one_to_its_length() {
        assert_eq!(line_inflation(4, 0.0), 1.0);
        // 1 + 2 (0.75·0.5 + 0.5·0.25 + 0.25·0.125)
        assert!((line_inflation(4, 0.5) - 2.0625).abs() < 1e-12);
        assert!((line_inflation(4, 0.999_999) - 4.0).abs() < 1e-4);
        assert_eq!(line_inflation(1, 0.9), 1.0);
    }

    #[test]
    fn independent_blocks_keep_nearly_their_t() {
        let values: Vec<f64> = (0..2 * 16 * 16).map(|i| 1.0 + noise(i)).collect();
        let c = correlated_t(&values, &grids(2, 16), 10.0);
        assert!(c.rho_down < 0.1 && c.rho_across < 0.1, "{c:?}");
        assert!(c.t_effective > 8.0 && c.n_effective > 0.6 * 512.0, "{c:?}");
    }

    #[test]
    fn pieces_whose_blocks_move_together_count_once_each() {
        // each piece one level (+ a little noise): the blocks of a piece say one thing 16 times
        let values: Vec<f64> = (0..4 * 16).map(|i| [3.0, -1.0, 2.5, 0.5][i / 16] + 0.01 * noise(i)).collect();
        let c = correlated_t(&values, &grids(4, 4), 6.0);
        assert!(c.rho_down > 0.9 && c.rho_across > 0.9, "{c:?}");
        assert!(c.n_effective < 5.0, "{c:?}");
        assert!(c.t_effective < 6.0 / 3.0, "{c:?}");
        // and two such pieces cannot make anything sure
        assert!(!CorrelatedT { n_effective: 2.0, t_effective: 8.0, ..c }.is_sure(2.0));
    }

    #[test]
    fn a_smooth_field_is_worth_fewer_blocks_than_it_has() {
        // each row of blocks at its own level: neighbours alike across, unrelated down
        let values: Vec<f64> = (0..2 * 64).map(|i| noise(1000 + i / 8) + 0.2 * noise(i)).collect();
        let c = correlated_t(&values, &grids(2, 8), 5.0);
        assert!(c.rho_across > 0.5 && c.rho_down < 0.3, "{c:?}");
        assert!(c.n_effective < 128.0 / 2.0 && c.t_effective < 5.0 / 2.0f64.sqrt(), "{c:?}");
    }

    #[test]
    fn anticorrelation_earns_no_credit_and_degenerate_input_is_harmless() {
        // a checkerboard: neighbours opposite
        let values: Vec<f64> = (0..64).map(|i| if (i / 8 + i % 8) % 2 == 0 { 2.0 } else { 0.0 }).collect();
        let c = correlated_t(&values, &grids(1, 8), 3.0);
        assert_eq!((c.rho_down, c.rho_across, c.t_effective), (0.0, 0.0, 3.0));
        let flat = correlated_t(&[1.0; 16], &grids(1, 4), f64::INFINITY);
        assert_eq!((flat.rho_down, flat.n_effective), (0.0, 16.0));
        let empty = correlated_t(&[], &[], 0.0);
        assert_eq!((empty.n_blocks, empty.n_effective), (0, 0.0));
        assert!(!empty.is_sure(2.0));
        // an infinite t goes to metrics.json as null and reads back (as NaN) instead of failing
        let json = serde_json::to_string(&flat).unwrap();
        assert!(json.contains("\"t\":null"), "{json}");
        let back: CorrelatedT = serde_json::from_str(&json).unwrap();
        assert!(back.t.is_nan() && back.t_effective.is_nan() && back.n_effective == 16.0, "{back:?}");
    }

    #[test]
    fn the_t_needed_takes_fractional_degrees_of_freedom() {
        assert!((t_needed(2.0, 7.0) - 2.429).abs() < 0.002, "{}", t_needed(2.0, 7.0));
        assert!(t_needed(2.0, 7.5) < t_needed(2.0, 7.0) && t_needed(2.0, 7.5) > t_needed(2.0, 8.0));
        assert_eq!(t_needed(2.0, 0.5), f64::INFINITY);
        assert_eq!(t_needed(2.0, f64::NAN), f64::INFINITY);
    }
}
