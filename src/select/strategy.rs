//! Selection strategies: farthest-first in indicator space (the method), and the references it is
//! evaluated against — random tiles, tiles spread uniformly over the frame, and every tile (a full
//! HR scan in patches) — and active picking, whose first picks are farthest-first and whose later ones
//! a model decides during acquisition (`crate::pipeline::active_picking`).

use super::farthest_first::{select_tiles, SelectionError, SelectionWeights};
use super::indicators::IndicatorRow;
use super::tiling::Tiling;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// How the tiles to scan at HR are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SelectionStrategy {
    /// Diverse, informative tiles: farthest-first in standardised indicator space (DESIGN.md §1).
    #[default]
    FarthestFirst,
    /// Tiles drawn uniformly at random (seeded).
    Random,
    /// Tiles spread evenly over the frame: farthest-first on the tiles' positions, from the centre.
    Uniform,
    /// Every eligible tile (the full-scan reference); `n_select` is ignored.
    All,
    /// The first `[select.active] seed_picks` tiles farthest-first; each later one is the tile the
    /// model trained so far predicts worst (highest mean uncertainty), decided while the instrument
    /// scans. Here (before any model exists) it picks like farthest-first.
    Active,
}

impl SelectionStrategy {
    /// Short name, as in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            SelectionStrategy::FarthestFirst => "farthest_first",
            SelectionStrategy::Random => "random",
            SelectionStrategy::Uniform => "uniform",
            SelectionStrategy::All => "all",
            SelectionStrategy::Active => "active",
        }
    }
}

/// Picks tiles with `strategy`. Ineligible tiles are never picked; the order is the scan order.
pub fn pick_tiles(
    strategy: SelectionStrategy,
    rows: &[IndicatorRow],
    eligible: &[bool],
    n_select: usize,
    weights: &SelectionWeights,
    tiling: &Tiling,
    seed: u64,
) -> Result<Vec<usize>, SelectionError> {
    let pool: Vec<usize> = (0..rows.len()).filter(|&i| eligible.get(i).copied().unwrap_or(false)).collect();
    if strategy == SelectionStrategy::All {
        return Ok(pool);
    }
    if n_select > pool.len() {
        return Err(SelectionError::TooManyPicks { requested: n_select, eligible: pool.len(), tiles: rows.len() });
    }
    match strategy {
        SelectionStrategy::FarthestFirst | SelectionStrategy::Active => select_tiles(rows, eligible, n_select, weights),
        SelectionStrategy::Random => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5e1e_c7ed);
            let mut shuffled = pool;
            shuffled.shuffle(&mut rng);
            shuffled.truncate(n_select);
            Ok(shuffled)
        }
        SelectionStrategy::Uniform => Ok(spread_over_frame(&pool, n_select, tiling)),
        SelectionStrategy::All => unreachable!("handled above"),
    }
}

/// Farthest-point sampling on tile centres (in tile units), starting from the tile nearest the frame
/// centre; ties break towards the lower index.
fn spread_over_frame(pool: &[usize], n: usize, tiling: &Tiling) -> Vec<usize> {
    let pos = |t: usize| {
        let (r, c) = tiling.position(t);
        (r as f64 + 0.5, c as f64 + 0.5)
    };
    let mid = tiling.grid as f64 / 2.0;
    let d2 = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2);
    let mut picks = Vec::with_capacity(n);
    let mut best_d = vec![f64::INFINITY; pool.len()];
    for step in 0..n {
        let mut best: Option<(usize, f64)> = None;
        for (k, &t) in pool.iter().enumerate() {
            if picks.contains(&t) {
                continue;
            }
            let score = if step == 0 { -d2(pos(t), (mid, mid)) } else { best_d[k] };
            if best.is_none_or(|(_, s)| score > s + 1e-12) {
                best = Some((k, score));
            }
        }
        let Some((k, _)) = best else { break };
        let t = pool[k];
        picks.push(t);
        for (j, &u) in pool.iter().enumerate() {
            best_d[j] = best_d[j].min(d2(pos(u), pos(t)));
        }
    }
    picks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<IndicatorRow> {
        (0..n).map(|i| IndicatorRow { mean: i as f64, std: 1.0, grad: 0.0, lap: 0.0, texture: 0.0 }).collect()
    }

    #[test]
    fn uniform_spreads_four_picks_over_four_quadrants() {
        let tiling = Tiling::new(8, 64, 64);
        let picks = pick_tiles(SelectionStrategy::Uniform, &rows(64), &[true; 64], 4, &Default::default(), &tiling, 0).unwrap();
        let quads: std::collections::HashSet<_> = picks
            .iter()
            .map(|&t| {
                let (r, c) = tiling.position(t);
                (r < 4, c < 4)
            })
            .collect();
        assert_eq!(picks.len(), 4);
        assert!(quads.len() >= 3, "{picks:?}");
    }

    #[test]
    fn random_is_seeded_and_respects_eligibility_and_all_takes_every_eligible_tile() {
        let tiling = Tiling::new(4, 16, 16);
        let mut eligible = [true; 16];
        eligible[3] = false;
        let a = pick_tiles(SelectionStrategy::Random, &rows(16), &eligible, 8, &Default::default(), &tiling, 9).unwrap();
        let b = pick_tiles(SelectionStrategy::Random, &rows(16), &eligible, 8, &Default::default(), &tiling, 9).unwrap();
        let c = pick_tiles(SelectionStrategy::Random, &rows(16), &eligible, 8, &Default::default(), &tiling, 10).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(!a.contains(&3));
        let all = pick_tiles(SelectionStrategy::All, &rows(16), &eligible, 1, &Default::default(), &tiling, 0).unwrap();
        assert_eq!(all.len(), 15);
        assert!(!all.contains(&3));
    }
}
