//! Tile selection on the levelled LR frame itself — the one selection the closed loop and the offline
//! tools share: the `grid × grid` tiling of the LR (tile k of the LR covers HR tile k), the five
//! indicators per LR tile (the texture cut-off relative to the LR's own Nyquist), then the picks of the
//! configured strategy. Also the indicator table as text and CSV.

use super::farthest_first::{SelectionError, SelectionWeights};
use super::indicators::{compute_indicators, IndicatorRow, TextureSpectrum};
use super::strategy::{pick_tiles, SelectionStrategy};
use super::tiling::Tiling;
use crate::config::SelectSection;
use ndarray::ArrayView2;
use std::fmt::Write as _;

/// Everything that decides the picks.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectOptions {
    /// Tiles per side.
    pub grid: usize,
    /// How many tiles to pick (ignored by the `all` strategy).
    pub n_select: usize,
    /// How tiles are chosen.
    pub strategy: SelectionStrategy,
    /// Indicator weights and λ.
    pub weights: SelectionWeights,
    /// Texture indicator settings.
    pub texture: TextureSpectrum,
    /// Seed of the `random` strategy.
    pub seed: u64,
    /// Picks the `active` strategy makes here, farthest-first (the rest are decided by a model during
    /// acquisition).
    pub active_seed_picks: usize,
}

impl Default for SelectOptions {
    /// The closed loop's defaults: 8 × 8 tiles, 20 picks, farthest-first.
    fn default() -> Self {
        Self {
            grid: 8,
            n_select: 20,
            strategy: SelectionStrategy::FarthestFirst,
            weights: SelectionWeights::default(),
            texture: TextureSpectrum::default(),
            seed: 0,
            active_seed_picks: 4,
        }
    }
}

impl SelectOptions {
    /// The options of a run config's `[select]` section (and its `[run] seed`).
    pub fn from_section(s: &SelectSection, seed: u64) -> Self {
        Self {
            grid: s.grid,
            n_select: s.n_select,
            strategy: s.strategy,
            weights: s.weights,
            texture: TextureSpectrum { cutoff_fraction_of_nyquist: s.texture_cutoff_fraction_of_nyquist },
            seed,
            active_seed_picks: s.active.seed_picks,
        }
    }

    /// Number of picks this selection makes on a `grid × grid` tiling (for `active`: its
    /// farthest-first seed picks only).
    pub fn n_picks(&self) -> usize {
        match self.strategy {
            SelectionStrategy::All => self.grid * self.grid,
            SelectionStrategy::Active => self.n_select.min(self.active_seed_picks.max(1)),
            _ => self.n_select,
        }
    }

    /// Checks the options against an LR image of `lines × points` pixels; the message names the
    /// option and value.
    pub fn validate(&self, lines: usize, points: usize) -> Result<(), String> {
        if self.grid == 0 || lines / self.grid.max(1) < 2 || points / self.grid.max(1) < 2 {
            return Err(format!("grid = {}: tiles of the {points}×{lines} px LR must be at least 2 px on a side", self.grid));
        }
        let tiles = self.grid * self.grid;
        if self.strategy != SelectionStrategy::All && (self.n_select == 0 || self.n_select > tiles) {
            return Err(format!("n_select = {}: must be 1 … {tiles} (the tiles of a {1}×{1} grid)", self.n_select, self.grid));
        }
        let w = &self.weights;
        for (name, v) in [("mean", w.mean), ("std", w.std), ("grad", w.grad), ("lap", w.lap), ("texture", w.texture), ("lambda", w.lambda)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("select weight {name} = {v}: must be a finite number ≥ 0"));
            }
        }
        let rc = self.texture.cutoff_fraction_of_nyquist;
        if !(rc > 0.0 && rc < 1.0) {
            return Err(format!("texture cut-off = {rc} (fraction of the LR Nyquist): must lie in (0, 1)"));
        }
        Ok(())
    }
}

/// Indicators and picks on one LR image.
#[derive(Debug, Clone, PartialEq)]
pub struct TileSelection {
    /// The tiling of the LR image (tile k covers tile k of the HR grid's tiling).
    pub tiling: Tiling,
    /// The indicators of every tile, in tile index order.
    pub rows: Vec<IndicatorRow>,
    /// Whether each tile could be picked (offline: every tile; closed loop: inside the limits).
    pub eligible: Vec<bool>,
    /// Tile indices in pick (scan) order.
    pub picks: Vec<usize>,
}

impl TileSelection {
    /// Position (0-based) of `tile` in the pick order, if picked.
    pub fn pick_order(&self, tile: usize) -> Option<usize> {
        self.picks.iter().position(|&p| p == tile)
    }
}

/// Indicators of every `grid × grid` tile of the levelled LR image `lr` and the picks of `opts`;
/// `eligible` (default: every tile) says which tiles may be picked.
pub fn select_on_lr(lr: ArrayView2<f32>, eligible: Option<&[bool]>, opts: &SelectOptions) -> Result<TileSelection, SelectionError> {
    let (lines, points) = lr.dim();
    opts.validate(lines, points).map_err(SelectionError::Options)?;
    let tiling = Tiling::new(opts.grid, lines, points);
    let rows = compute_indicators(lr, &tiling, &opts.texture);
    let eligible = eligible.map(<[bool]>::to_vec).unwrap_or_else(|| vec![true; rows.len()]);
    let picks = pick_tiles(opts.strategy, &rows, &eligible, opts.n_picks(), &opts.weights, &tiling, opts.seed)?;
    Ok(TileSelection { tiling, rows, eligible, picks })
}

/// The indicator table as aligned text: tile, tile row/column, the five indicators (in `unit`, per
/// HR pixel), eligibility and pick order (1 = first scanned, "-" = not picked).
pub fn indicator_table(sel: &TileSelection, unit: &str) -> String {
    let u = if unit.is_empty() { "1" } else { unit };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4} {:>3} {:>3} {:>12} {:>12} {:>12} {:>12} {:>9} {:>8} {:>4}",
        "tile",
        "row",
        "col",
        format!("mean [{u}]"),
        format!("std [{u}]"),
        format!("grad [{u}/px]"),
        format!("lap [{u}/px²]"),
        "texture",
        "eligible",
        "pick"
    );
    for (i, r) in sel.rows.iter().enumerate() {
        let (tr, tc) = sel.tiling.position(i);
        let pick = sel.pick_order(i).map(|k| (k + 1).to_string()).unwrap_or_else(|| "-".into());
        let eligible = if sel.eligible.get(i).copied().unwrap_or(false) { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "{i:>4} {tr:>3} {tc:>3} {:>12.4e} {:>12.4e} {:>12.4e} {:>12.4e} {:>9.4} {eligible:>8} {pick:>4}",
            r.mean, r.std, r.grad, r.lap, r.texture
        );
    }
    out
}

/// The indicator table as CSV (`tile,row,col,mean,std,grad,lap,texture,eligible,pick`; pick empty when
/// not picked, else 1-based).
pub fn selection_csv(sel: &TileSelection) -> String {
    let mut out = String::from("tile,row,col,mean,std,grad,lap,texture,eligible,pick\n");
    for (i, r) in sel.rows.iter().enumerate() {
        let (tr, tc) = sel.tiling.position(i);
        let pick = sel.pick_order(i).map(|k| (k + 1).to_string()).unwrap_or_default();
        let eligible = u8::from(sel.eligible.get(i).copied().unwrap_or(false));
        let _ = writeln!(out, "{i},{tr},{tc},{:e},{:e},{:e},{:e},{:e},{eligible},{pick}", r.mean, r.std, r.grad, r.lap, r.texture);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn picks_the_rough_quadrant_first_and_checks_n_select() {
        // 64 × 64: one rough quadrant (pseudo-random heights), the rest a gentle ramp
        let img = Array2::from_shape_fn((64, 64), |(r, c)| {
            let noise = ((r * 7919 + c * 104_729) % 97) as f32 / 97.0;
            if r >= 32 && c >= 32 {
                noise
            } else {
                0.01 * c as f32
            }
        });
        let opts = SelectOptions { grid: 4, n_select: 3, ..SelectOptions::default() };
        let sel = select_on_lr(img.view(), None, &opts).unwrap();
        assert_eq!(sel.rows.len(), 16);
        let (r, c) = sel.tiling.position(sel.picks[0]);
        assert!(r >= 2 && c >= 2, "first pick {:?}", (r, c));
        let table = indicator_table(&sel, "m");
        assert_eq!(table.lines().count(), 17);
        assert!(table.lines().nth(1 + sel.picks[0]).is_some_and(|l| l.trim_end().ends_with(" 1")));
        assert_eq!(selection_csv(&sel).lines().count(), 17);
        let err = select_on_lr(img.view(), None, &SelectOptions { grid: 4, n_select: 17, ..opts.clone() }).unwrap_err();
        assert_eq!(err.to_string(), "n_select = 17: must be 1 … 16 (the tiles of a 4×4 grid)");
        assert!(select_on_lr(img.view(), None, &SelectOptions { grid: 64, ..opts }).is_err());
    }
}
