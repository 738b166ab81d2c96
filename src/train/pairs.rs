//! Training pairs as tensors: x0 (the LR frame upsampled onto the HR grid, over one acquired tile)
//! and x1 (the measured HR patch), normalised, stacked `[N, 1, H, W]`, split into training and
//! held-out sets, and drawn into batches with optional random crops and slow-axis flips.

use super::normalize::Normalizer;
use crate::model::array_to_tensor;
use crate::reconstruct::{check_patches, MeasuredPatch, PasteError};
use ndarray::{Array2, ArrayView2};
use rand::Rng;
use tch::{Device, Tensor};

/// One acquired tile: the model input and target on the same HR pixels, heights in metres.
#[derive(Debug, Clone, PartialEq)]
pub struct TilePair {
    /// The LR frame upsampled onto the HR grid over this tile (x0), `[row, col]`, metres.
    pub x0: Array2<f32>,
    /// The measured HR patch (x1), same shape, metres.
    pub x1: Array2<f32>,
}

/// Error in the training pairs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PairError {
    /// Fewer pairs than needed.
    #[error("{got} acquired pairs, but training needs at least {need} ({n_val} held out for validation)")]
    TooFew {
        /// Pairs given.
        got: usize,
        /// Pairs needed.
        need: usize,
        /// Pairs held out.
        n_val: usize,
    },
    /// A pair whose x0 and x1 differ in shape, or differ from the first pair's.
    #[error("pair {index}: x0 is {x0:?} and x1 is {x1:?}, expected both {expected:?}")]
    Shape {
        /// Index of the pair.
        index: usize,
        /// Shape of its x0.
        x0: (usize, usize),
        /// Shape of its x1.
        x1: (usize, usize),
        /// Shape of the first pair.
        expected: (usize, usize),
    },
    /// Tile sides not divisible by 4, or a crop larger than the tile.
    #[error("tiles are {rows}×{cols} px with crop {crop:?}: sides must be multiples of 4 and the crop at most the tile")]
    TileSize {
        /// Tile rows.
        rows: usize,
        /// Tile columns.
        cols: usize,
        /// The crop asked for.
        crop: Option<usize>,
    },
}

/// A stack of normalised pairs on one device: `x0`, `x1` are `[N, 1, H, W]`.
#[derive(Debug)]
pub struct PairTensors {
    /// Model inputs.
    pub x0: Tensor,
    /// Targets.
    pub x1: Tensor,
}

impl PairTensors {
    /// Normalises and stacks `pairs` (all of one shape) onto `device`.
    pub fn new(pairs: &[TilePair], norm: &Normalizer, device: Device) -> Self {
        let stack = |f: &dyn Fn(&TilePair) -> &Array2<f32>| {
            let ts: Vec<Tensor> = pairs.iter().map(|p| array_to_tensor(norm.normalize(f(p).view()).view(), device)).collect();
            Tensor::cat(&ts, 0)
        };
        Self { x0: stack(&|p| &p.x0), x1: stack(&|p| &p.x1) }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.x0.size()[0] as usize
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The training pairs of measured patches: x0 cut from the full upsampled LR frame `x0_full` (on the
/// HR grid) at each patch's rectangle, x1 the patch.
pub fn pairs_from_patches(x0_full: ArrayView2<f32>, patches: &[MeasuredPatch]) -> Result<Vec<TilePair>, PasteError> {
    check_patches(patches, x0_full.dim())?;
    Ok(patches
        .iter()
        .map(|p| {
            let r = p.rect;
            let x0 = x0_full.slice(ndarray::s![r.row..r.row + r.rows, r.col..r.col + r.cols]).to_owned();
            TilePair { x0, x1: p.data.clone() }
        })
        .collect())
}

/// Checks that all pairs share one shape with sides divisible by 4 (and fit the crop); returns it.
pub fn check_pairs(pairs: &[TilePair], crop_px: Option<usize>) -> Result<(usize, usize), PairError> {
    let expected = pairs.first().map(|p| p.x0.dim()).unwrap_or((0, 0));
    for (index, p) in pairs.iter().enumerate() {
        if p.x0.dim() != expected || p.x1.dim() != expected {
            return Err(PairError::Shape { index, x0: p.x0.dim(), x1: p.x1.dim(), expected });
        }
    }
    let (rows, cols) = expected;
    let crop_fits = crop_px.is_none_or(|c| c <= rows && c <= cols);
    if rows == 0 || cols == 0 || rows % 4 != 0 || cols % 4 != 0 || !crop_fits {
        return Err(PairError::TileSize { rows, cols, crop: crop_px });
    }
    Ok(expected)
}

/// How a training batch is drawn.
#[derive(Debug, Clone, Copy)]
pub struct BatchSpec {
    /// Pairs per batch; `None` = all.
    pub batch_size: Option<usize>,
    /// Random square crop side, pixels; `None` = whole tiles.
    pub crop_px: Option<usize>,
    /// Randomly reverse the line order (dim 2, the slow axis) of each pair with probability ½.
    pub flip_slow_axis: bool,
}

/// Draws one batch `(x0, x1)` from `data`; all randomness (which pairs, crop windows, flips) comes
/// from `rng`, so a seeded run repeats whatever else uses tch's global RNG.
pub fn draw_batch(data: &PairTensors, spec: &BatchSpec, rng: &mut impl Rng) -> (Tensor, Tensor) {
    let n = data.len();
    let device = data.x0.device();
    let (mut x0, mut x1) = match spec.batch_size {
        Some(b) if b < n => {
            let picked: Vec<i64> = rand::seq::index::sample(rng, n, b).into_iter().map(|i| i as i64).collect();
            let idx = Tensor::from_slice(&picked).to_device(device);
            (data.x0.index_select(0, &idx), data.x1.index_select(0, &idx))
        }
        _ => (data.x0.shallow_clone(), data.x1.shallow_clone()),
    };
    if let Some(c) = spec.crop_px {
        (x0, x1) = random_crops(&x0, &x1, c as i64, rng);
    }
    if spec.flip_slow_axis {
        let b = x0.size()[0];
        // [B, 1, 1, 1] mask: true → lines in reverse order. Points within a line are never reversed.
        let keep: Vec<bool> = (0..b).map(|_| rng.random::<bool>()).collect();
        let keep = Tensor::from_slice(&keep).view([b, 1, 1, 1]).to_device(device);
        x0 = x0.where_self(&keep, &x0.flip([2]));
        x1 = x1.where_self(&keep, &x1.flip([2]));
    }
    (x0, x1)
}

/// The same random `c × c` window from each pair's x0 and x1 (independent windows across pairs).
fn random_crops(x0: &Tensor, x1: &Tensor, c: i64, rng: &mut impl Rng) -> (Tensor, Tensor) {
    let size = x0.size();
    let (b, h, w) = (size[0], size[2], size[3]);
    if c >= h && c >= w {
        return (x0.shallow_clone(), x1.shallow_clone());
    }
    let (mut a, mut z) = (Vec::new(), Vec::new());
    for i in 0..b {
        let (r, q) = (rng.random_range(0..=h - c), rng.random_range(0..=w - c));
        a.push(x0.narrow(0, i, 1).narrow(2, r, c).narrow(3, q, c));
        z.push(x1.narrow(0, i, 1).narrow(2, r, c).narrow(3, q, c));
    }
    (Tensor::cat(&a, 0), Tensor::cat(&z, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(rows: usize, cols: usize, k: f32) -> TilePair {
        let x0 = Array2::from_shape_fn((rows, cols), |(r, c)| k + (r * cols + c) as f32);
        TilePair { x1: x0.mapv(|v| -v), x0 }
    }

    #[test]
    fn pairs_are_cut_at_the_patch_rectangles() {
        let x0 = Array2::from_shape_fn((10, 12), |(r, c)| (100 * r + c) as f32);
        let rect = afm_drivers::PixelRect { col: 3, row: 2, cols: 4, rows: 5 };
        let patch = MeasuredPatch { rect, data: Array2::zeros((5, 4)) };
        let pairs = pairs_from_patches(x0.view(), &[patch]).unwrap();
        assert_eq!(pairs[0].x0.dim(), (5, 4));
        assert_eq!(pairs[0].x0[[0, 0]], 203.0);
        assert_eq!(pairs[0].x0[[4, 3]], 606.0);
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(check_pairs(&[pair(8, 12, 0.0)], None), Ok((8, 12)));
        assert!(matches!(check_pairs(&[pair(8, 12, 0.0), pair(8, 8, 0.0)], None), Err(PairError::Shape { index: 1, .. })));
        assert!(check_pairs(&[pair(6, 8, 0.0)], None).is_err());
        assert!(check_pairs(&[pair(8, 8, 0.0)], Some(12)).is_err());
    }

    #[test]
    fn flips_reverse_lines_only_and_crops_keep_pairs_aligned() {
        let norm = Normalizer { mean_m: 0.0, std_m: 1.0 };
        let data = PairTensors::new(&[pair(8, 8, 0.0), pair(8, 8, 1000.0)], &norm, Device::Cpu);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        let mut flipped = 0;
        let spec = BatchSpec { batch_size: None, crop_px: Some(4), flip_slow_axis: true };
        for _ in 0..10 {
            let (x0, x1) = draw_batch(&data, &spec, &mut rng);
            assert_eq!(x0.size(), vec![2, 1, 4, 4]);
            // x1 = −x0 survives cropping and flipping
            assert_eq!((&x0 + &x1).abs().max().double_value(&[]), 0.0);
            // along a line (fast axis) values still increase by 1: no flip along the fast axis
            let d = x0.narrow(3, 1, 3) - x0.narrow(3, 0, 3);
            assert_eq!(d.min().double_value(&[]), 1.0);
            // between lines they change by ±8 (either order)
            let dl = (x0.narrow(2, 1, 3) - x0.narrow(2, 0, 3)).abs();
            assert_eq!(dl.min().double_value(&[]), 8.0);
            flipped += (x0.narrow(2, 1, 1) - x0.narrow(2, 0, 1)).lt(0.0).any().int64_value(&[]);
        }
        assert!(flipped > 0, "no batch was ever flipped");
    }
}
