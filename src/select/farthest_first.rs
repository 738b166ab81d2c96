//! Farthest-first selection (DESIGN.md §1 step 3): standardise each indicator across the eligible
//! tiles (z-score; a constant column becomes 0), weight the columns, start at the tile with the largest
//! grad + lap score, then repeatedly take the tile maximising
//! `min distance to the picked set + λ · (grad + lap score)`. Ties break towards the lower tile index,
//! so picks are deterministic. Ineligible tiles (outside the instrument's safe range) are never picked.

use super::indicators::IndicatorRow;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Per-indicator weights and the grad + lap bonus.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelectionWeights {
    /// Weight of the standardised mean.
    pub mean: f64,
    /// Weight of the standardised standard deviation.
    pub std: f64,
    /// Weight of the standardised gradient magnitude.
    pub grad: f64,
    /// Weight of the standardised |Laplacian|.
    pub lap: f64,
    /// Weight of the standardised texture ratio.
    pub texture: f64,
    /// λ: how much the grad + lap score adds to the farthest-first distance.
    pub lambda: f64,
}

impl Default for SelectionWeights {
    fn default() -> Self {
        Self { mean: 1.0, std: 1.0, grad: 1.5, lap: 1.5, texture: 1.0, lambda: 0.3 }
    }
}

impl SelectionWeights {
    fn columns(&self) -> [f64; 5] {
        [self.mean, self.std, self.grad, self.lap, self.texture]
    }
}

/// Why a selection cannot be made.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SelectionError {
    /// More picks were asked for than there are eligible tiles.
    #[error("n_select = {requested} but only {eligible} of {tiles} tiles are eligible (inside the instrument's limits)")]
    TooManyPicks {
        /// Picks asked for.
        requested: usize,
        /// Eligible tiles.
        eligible: usize,
        /// All tiles.
        tiles: usize,
    },
    /// An option is out of range (the message names it and its value).
    #[error("{0}")]
    Options(String),
    /// The eligibility mask does not match the indicator table.
    #[error("eligibility mask has {mask} entries for {tiles} tiles")]
    MaskLength {
        /// Mask length.
        mask: usize,
        /// Number of tiles.
        tiles: usize,
    },
    /// An indicator is not a finite number.
    #[error("indicator {column} of tile {tile} is not finite")]
    NonFinite {
        /// Tile index.
        tile: usize,
        /// Indicator name.
        column: &'static str,
    },
}

/// Mean and (population) standard deviation of the `values` where `mask` is true; `None` when they
/// are all equal (to 1e-12 of the mean), so that a constant column standardises to 0.
pub fn masked_mean_sd(values: &[f64], mask: &[bool]) -> Option<(f64, f64)> {
    let vals: Vec<f64> = values.iter().zip(mask).filter(|(_, &m)| m).map(|(&v, _)| v).collect();
    let n = vals.len().max(1) as f64;
    let mean = vals.iter().sum::<f64>() / n;
    let std = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let constant = std.is_nan() || std <= 1e-12 * mean.abs().max(f64::MIN_POSITIVE);
    (!constant).then_some((mean, std))
}

/// Standardised, weighted features of the eligible tiles (rows of ineligible tiles are left at 0).
pub fn weighted_features(rows: &[IndicatorRow], eligible: &[bool], w: &SelectionWeights) -> Vec<[f64; 5]> {
    let mut out = vec![[0.0; 5]; rows.len()];
    let weights = w.columns();
    for k in 0..5 {
        let column: Vec<f64> = rows.iter().map(|r| r.values()[k]).collect();
        let Some((mean, std)) = masked_mean_sd(&column, eligible) else { continue };
        for i in (0..rows.len()).filter(|&i| eligible[i]) {
            out[i][k] = weights[k] * (column[i] - mean) / std;
        }
    }
    out
}

/// Euclidean distance of two tiles in standardised, weighted indicator space.
fn feature_distance(a: &[f64; 5], b: &[f64; 5]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

/// The grad + lap score of a tile's weighted features (what λ weighs).
fn grad_lap_score(f: &[f64; 5]) -> f64 {
    f[2] + f[3]
}

/// Farthest-first's score of every tile given the picks so far (at least one): the distance to the
/// nearest pick plus λ times the grad + lap score, as [`select_tiles`] ranks its later picks.
pub fn farthest_first_scores(rows: &[IndicatorRow], eligible: &[bool], w: &SelectionWeights, picked: &[usize]) -> Vec<f64> {
    let feats = weighted_features(rows, eligible, w);
    feats
        .iter()
        .map(|f| {
            let nearest = picked.iter().filter_map(|&p| feats.get(p)).map(|g| feature_distance(f, g)).fold(f64::INFINITY, f64::min);
            let nearest = if nearest.is_finite() { nearest } else { 0.0 };
            nearest + w.lambda * grad_lap_score(f)
        })
        .collect()
}

/// Picks `n_select` tiles in order. `eligible[i]` false means tile `i` may never be picked.
pub fn select_tiles(rows: &[IndicatorRow], eligible: &[bool], n_select: usize, w: &SelectionWeights) -> Result<Vec<usize>, SelectionError> {
    if eligible.len() != rows.len() {
        return Err(SelectionError::MaskLength { mask: eligible.len(), tiles: rows.len() });
    }
    for (tile, r) in rows.iter().enumerate() {
        for (k, v) in r.values().iter().enumerate() {
            if !v.is_finite() {
                return Err(SelectionError::NonFinite { tile, column: super::INDICATOR_NAMES[k] });
            }
        }
    }
    let n_eligible = eligible.iter().filter(|&&e| e).count();
    if n_select > n_eligible {
        return Err(SelectionError::TooManyPicks { requested: n_select, eligible: n_eligible, tiles: rows.len() });
    }
    let feats = weighted_features(rows, eligible, w);
    let bonus: Vec<f64> = feats.iter().map(grad_lap_score).collect();

    let mut picks: Vec<usize> = Vec::with_capacity(n_select);
    let mut min_dist = vec![f64::INFINITY; rows.len()];
    let mut taken = vec![false; rows.len()];
    for step in 0..n_select {
        let mut best: Option<(usize, f64)> = None;
        for i in (0..rows.len()).filter(|&i| eligible[i] && !taken[i]) {
            let score = if step == 0 { bonus[i] } else { min_dist[i] + w.lambda * bonus[i] };
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((i, score));
            }
        }
        let Some((pick, _)) = best else { break };
        taken[pick] = true;
        picks.push(pick);
        for i in 0..rows.len() {
            min_dist[i] = min_dist[i].min(feature_distance(&feats[i], &feats[pick]));
        }
    }
    Ok(picks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: [f64; 5]) -> IndicatorRow {
        IndicatorRow { mean: v[0], std: v[1], grad: v[2], lap: v[3], texture: v[4] }
    }

    #[test]
    fn starts_at_the_roughest_tile_then_goes_far_and_never_picks_ineligible() {
        let rows = vec![
            row([0.0, 0.0, 0.0, 0.0, 0.0]),
            row([0.0, 0.1, 5.0, 5.0, 0.5]), // roughest, but ineligible below
            row([0.0, 0.1, 4.0, 4.0, 0.5]),
            row([9.0, 0.0, 0.0, 0.0, 0.0]),
            row([0.1, 0.0, 0.0, 0.0, 0.0]),
        ];
        let eligible = [true, false, true, true, true];
        let picks = select_tiles(&rows, &eligible, 3, &SelectionWeights::default()).unwrap();
        assert_eq!(picks[0], 2);
        assert_eq!(picks[1], 3, "tile 3 is farthest from tile 2 in feature space");
        assert!(!picks.contains(&1));
        let err = select_tiles(&rows, &eligible, 5, &SelectionWeights::default()).unwrap_err();
        assert!(matches!(err, SelectionError::TooManyPicks { requested: 5, eligible: 4, .. }));
    }

    #[test]
    fn ties_break_towards_the_lower_index_and_constant_columns_vanish() {
        let rows = vec![row([1.0, 1.0, 1.0, 1.0, 1.0]); 6];
        let picks = select_tiles(&rows, &[true; 6], 6, &SelectionWeights::default()).unwrap();
        assert_eq!(picks, vec![0, 1, 2, 3, 4, 5]);
        let f = weighted_features(&rows, &[true; 6], &SelectionWeights::default());
        assert!(f.iter().all(|r| r.iter().all(|&v| v == 0.0)));
    }

    #[test]
    fn farthest_first_scores_grow_with_distance_from_the_picks() {
        let rows = [row([0.0, 1.0, 0.0, 0.0, 0.0]), row([1.0, 1.0, 0.0, 0.0, 0.0]), row([10.0, 1.0, 0.0, 0.0, 0.0])];
        let w = SelectionWeights { lambda: 0.0, ..SelectionWeights::default() };
        let s = farthest_first_scores(&rows, &[true; 3], &w, &[0]);
        assert_eq!(s[0], 0.0);
        assert!(s[2] > s[1] && s[1] > 0.0, "{s:?}");
    }
}
