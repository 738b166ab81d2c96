//! Sliding-window reconstruction: the blending weights cover every pixel (a zero field returns x0
//! exactly, borders included, for sides that are not multiples of the stride), an oracle field
//! returning x1 − x0 reconstructs x1 exactly, and measured patches are pasted back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_drivers::PixelRect;
use afm_spark::model::{VelocityField, ZeroField};
use afm_spark::reconstruct::{reconstruct_with, MeasuredPatch, ReconstructConfig, ReconstructError};
use afm_spark::train::Normalizer;
use ndarray::Array2;
use tch::{Device, Tensor};

/// A rough height map in metres: smooth waves plus a sharp step, 1e-9-scale values.
fn x0_m(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let (x, y) = (c as f32, r as f32);
        let step = if x + 0.5 * y > 40.0 { 2.0 } else { 0.0 };
        1e-9 * ((0.31 * x).sin() + (0.17 * y).cos() + 0.3 * (0.9 * x * y / 50.0).sin() + step)
    })
}

fn max_rel_err(a: &Array2<f32>, b: &Array2<f32>, scale: f64) -> f64 {
    a.iter().zip(b.iter()).map(|(&p, &q)| (p as f64 - q as f64).abs() / scale).fold(0.0, f64::max)
}

#[test]
fn zero_field_returns_x0_everywhere_for_awkward_sizes_and_strides() {
    for (rows, cols, tile, stride) in [(100, 77, 16, None), (61, 90, 20, Some(7)), (33, 33, 32, None), (64, 52, 16, Some(16))] {
        let x0 = x0_m(rows, cols);
        let norm = Normalizer::from_lr(x0.view()).unwrap();
        let cfg = ReconstructConfig { tile_px: Some(tile), stride_px: stride, steps: 3, batch_size: 7, ..Default::default() };
        let out = reconstruct_with(&ZeroField, &norm, (tile, tile), x0.view(), &[], &cfg, Device::Cpu).unwrap();
        let err = max_rel_err(&out.sr_m, &x0, norm.std_m);
        assert!(err < 1e-5, "{rows}×{cols}, tile {tile}, stride {stride:?}: max error {err:e} of the LR std");
        // the corners and the last row/column, which a zero-weight Hann window would have lost
        for (r, c) in [(0, 0), (rows - 1, cols - 1), (0, cols - 1), (rows - 1, 0)] {
            assert!(((out.sr_m[[r, c]] - x0[[r, c]]) as f64).abs() < 1e-5 * norm.std_m);
        }
    }
}

/// The field of a pair whose x1 is a fixed function of x0: v = x1 − x0 = 0.7·sin(3·x0) + 0.2.
struct Oracle;

fn oracle_velocity(x0: &Tensor) -> Tensor {
    (x0 * 3.0).sin() * 0.7 + 0.2
}

impl VelocityField for Oracle {
    fn velocity(&self, _x_t: &Tensor, x0: &Tensor, _t: &Tensor) -> Tensor {
        oracle_velocity(x0)
    }
}

#[test]
fn oracle_field_reconstructs_x1_exactly() {
    let (rows, cols, tile) = (70, 45, 12);
    let x0 = x0_m(rows, cols);
    let norm = Normalizer::from_lr(x0.view()).unwrap();
    let z0 = norm.normalize(x0.view());
    let z1 = z0.mapv(|z| z + 0.7 * (3.0 * z).sin() + 0.2);
    let x1 = norm.denormalize(z1.view());
    for steps in [1, 10] {
        let cfg = ReconstructConfig { tile_px: Some(tile), steps, seam_px: 0, ..Default::default() };
        let out = reconstruct_with(&Oracle, &norm, (tile, tile), x0.view(), &[], &cfg, Device::Cpu).unwrap();
        let err = max_rel_err(&out.sr_m, &x1, norm.std_m);
        assert!(err < 1e-5, "{steps} steps: max error {err:e} of the LR std");
        // and it really moved: x1 differs from x0
        assert!(max_rel_err(&out.sr_m, &x0, norm.std_m) > 0.1);
    }
}

#[test]
fn measured_patches_are_pasted_back_and_bad_tiles_are_refused() {
    let x0 = x0_m(48, 48);
    let norm = Normalizer::from_lr(x0.view()).unwrap();
    let rect = PixelRect { col: 8, row: 20, cols: 16, rows: 16 };
    let patch = MeasuredPatch { rect, data: Array2::from_elem((16, 16), 5e-9) };
    let cfg = ReconstructConfig { tile_px: Some(16), seam_px: 0, ..Default::default() };
    let out = reconstruct_with(&ZeroField, &norm, (16, 16), x0.view(), std::slice::from_ref(&patch), &cfg, Device::Cpu).unwrap();
    assert_eq!(out.sr_m[[20, 8]], 5e-9);
    assert_eq!(out.sr_m[[35, 23]], 5e-9);
    assert!(((out.sr_m[[19, 8]] - x0[[19, 8]]) as f64).abs() < 1e-5 * norm.std_m);
    assert_eq!(out.inferred_m.dim(), (48, 48));
    let feathered = ReconstructConfig { seam_px: 3, ..cfg.clone() };
    let soft = reconstruct_with(&ZeroField, &norm, (16, 16), x0.view(), &[patch], &feathered, Device::Cpu).unwrap();
    let edge = soft.sr_m[[20, 8]] as f64;
    let expect = 0.25 * 5e-9 + 0.75 * x0[[20, 8]] as f64;
    assert!((edge - expect).abs() < 1e-5 * norm.std_m, "{edge:e} vs {expect:e}");
    let big = ReconstructConfig { tile_px: Some(64), ..cfg };
    let err = reconstruct_with(&ZeroField, &norm, (16, 16), x0.view(), &[], &big, Device::Cpu).unwrap_err();
    assert!(matches!(err, ReconstructError::Tile { .. }));
}
