//! Active picking's decision: the next tile is the one the model trained so far predicts worst — the
//! highest mean uncertainty (the flip disagreement of its reconstruction, `reconstruct_only`) over
//! the tile, among the eligible tiles not picked yet — optionally blended with the farthest-first
//! score (distance in indicator space to the picks so far). Both scores are standardised over the
//! candidates, so the blend weight means the same on any surface.

use crate::config::ActivePicking;
use crate::select::farthest_first::masked_mean_sd;
use crate::select::{farthest_first_scores, IndicatorRow, SelectionWeights};
use afm_drivers::PixelRect;
use ndarray::{s, Array2};

/// The mean of `map` over each rectangle (clipped to the map; 0 for an empty one).
pub fn tile_means(map: &Array2<f32>, rects: &[PixelRect]) -> Vec<f64> {
    let (lines, points) = map.dim();
    rects
        .iter()
        .map(|r| {
            let (r0, c0) = (r.row.min(lines), r.col.min(points));
            let (r1, c1) = ((r.row + r.rows).min(lines), (r.col + r.cols).min(points));
            let part = map.slice(s![r0..r1, c0..c1]);
            if part.is_empty() {
                0.0
            } else {
                part.iter().map(|&v| v as f64).sum::<f64>() / part.len() as f64
            }
        })
        .collect()
}

/// `values` as z-scores over the `candidates` (0 where not a candidate, and everywhere when the
/// candidates' values are all equal).
fn standardised(values: &[f64], candidates: &[bool]) -> Vec<f64> {
    let stats = masked_mean_sd(values, candidates);
    values
        .iter()
        .zip(candidates)
        .map(|(&v, &c)| match stats {
            Some((mean, sd)) if c => (v - mean) / sd,
            _ => 0.0,
        })
        .collect()
}

/// The candidate with the highest blended score: standardised mean uncertainty plus `blend` times the
/// standardised farthest-first score (when given). Ties go to the lower tile index; `None` when no
/// tile is a candidate.
pub fn choose_tile(uncertainty: &[f64], farthest_first: Option<&[f64]>, blend: f64, candidates: &[bool]) -> Option<usize> {
    let u = standardised(uncertainty, candidates);
    let ff = farthest_first.filter(|_| blend > 0.0).map(|f| standardised(f, candidates));
    let mut best: Option<(usize, f64)> = None;
    for (t, &is_candidate) in candidates.iter().enumerate() {
        if !is_candidate {
            continue;
        }
        let score = u[t] + ff.as_ref().map_or(0.0, |f| blend * f[t]);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((t, score));
        }
    }
    best.map(|(t, _)| t)
}

/// What a decision needs to know about the tiles.
pub struct TileBook<'a> {
    /// HR-grid rectangle of every tile, in tile index order.
    pub rects: &'a [PixelRect],
    /// Whether each tile may be scanned (inside the instrument's limits).
    pub eligible: &'a [bool],
    /// Indicator rows of every tile (for the blend).
    pub rows: &'a [IndicatorRow],
    /// Farthest-first weights (for the blend).
    pub weights: &'a SelectionWeights,
}

/// Decides the next pick from the `uncertainty` map of the current model's reconstruction on the HR
/// grid: averages it over each candidate tile (eligible, not picked yet) and chooses. Returns the
/// tile and its mean uncertainty (in the channel's unit).
pub fn decide_next_pick(uncertainty: &Array2<f32>, tiles: &TileBook<'_>, picked: &[usize], cfg: &ActivePicking) -> Option<(usize, f64)> {
    let per_tile = tile_means(uncertainty, tiles.rects);
    let candidates: Vec<bool> =
        (0..tiles.rects.len()).map(|t| tiles.eligible.get(t).copied().unwrap_or(false) && !picked.contains(&t)).collect();
    let ff = (cfg.indicator_blend > 0.0).then(|| farthest_first_scores(tiles.rows, tiles.eligible, tiles.weights, picked));
    choose_tile(&per_tile, ff.as_deref(), cfg.indicator_blend, &candidates).map(|t| (t, per_tile[t]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rect(row: usize, col: usize) -> PixelRect {
        PixelRect { row, col, rows: 4, cols: 4 }
    }

    #[test]
    fn the_most_uncertain_candidate_wins_and_picked_or_ineligible_tiles_never_do() {
        let mut map = Array2::<f32>::zeros((8, 8));
        map.slice_mut(s![0..4, 4..8]).fill(3.0); // tile 1
        map.slice_mut(s![4..8, 0..4]).fill(2.0); // tile 2
        map.slice_mut(s![4..8, 4..8]).fill(1.0); // tile 3
        let rects = [rect(0, 0), rect(0, 4), rect(4, 0), rect(4, 4)];
        let means = tile_means(&map, &rects);
        assert_eq!(means, vec![0.0, 3.0, 2.0, 1.0]);
        assert_eq!(choose_tile(&means, None, 0.0, &[true; 4]), Some(1));
        assert_eq!(choose_tile(&means, None, 0.0, &[true, false, true, true]), Some(2));
        assert_eq!(choose_tile(&means, None, 0.0, &[true, false, false, true]), Some(3));
        assert_eq!(choose_tile(&means, None, 0.0, &[false; 4]), None);
        // a rectangle partly off the map is clipped, not a panic
        assert_eq!(tile_means(&map, &[PixelRect { row: 6, col: 6, rows: 4, cols: 4 }]), vec![1.0]);
    }

    #[test]
    fn the_blend_with_farthest_first_can_overrule_a_small_uncertainty_lead() {
        // tiles 1 and 2 almost equally uncertain; tile 2 far from the pick (tile 0) in indicator space
        let unc = [0.0, 1.01, 1.0, 0.0];
        let ff = [0.0, 0.1, 5.0, 0.2];
        let candidates = [false, true, true, true];
        assert_eq!(choose_tile(&unc, Some(&ff), 0.0, &candidates), Some(1));
        assert_eq!(choose_tile(&unc, Some(&ff), 1.0, &candidates), Some(2));
    }
}
