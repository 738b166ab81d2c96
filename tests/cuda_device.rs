//! The CUDA path: where libtorch sees a GPU, a training run and a reconstruction on CUDA give the same
//! image as on the CPU (to float tolerance) — with a randomly initialised network trained long enough
//! that its reconstruction differs from x0 by a clear margin, so agreement is not the trivial
//! agreement of two identity maps. Skips cleanly without a GPU; `--device cuda` without one is a clear
//! error, never a silent fallback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::device::DeviceChoice;
use afm_spark::reconstruct::{reconstruct, ReconstructConfig};
use afm_spark::train::{train, Normalizer, TilePair, TrainConfig};
use ndarray::Array2;

fn pair(k: usize) -> TilePair {
    let x1 = Array2::from_shape_fn((32, 32), |(r, c)| (((r + 3 * k) / 8 + c / 8) % 2) as f32 * 1e-9);
    let x0 = x1.mapv(|v| v * 0.8 + 0.1e-9);
    TilePair { x0, x1 }
}

#[test]
fn cuda_matches_cpu_or_skips_without_a_gpu() {
    if !tch::Cuda::is_available() {
        assert!(DeviceChoice::Cuda.resolve().is_err(), "cuda must be refused without a GPU");
        assert_eq!(DeviceChoice::Auto.resolve().unwrap(), tch::Device::Cpu);
        eprintln!("SKIPPED: no CUDA device visible to libtorch");
        return;
    }
    let pairs: Vec<_> = (0..4).map(pair).collect();
    let lr = Array2::from_shape_fn((64, 64), |(r, c)| ((r / 16 + c / 16) % 2) as f32 * 0.8e-9 + 0.1e-9);
    let cfg = TrainConfig {
        base: 8,
        t_ch: 16,
        max_steps: 200,
        lr: 1e-3,
        n_val: 0,
        eval_interval_steps: 200,
        seed: 3,
        zero_init_output: false, // random init everywhere: the untrained network is not the identity
        ..TrainConfig::default()
    };
    let mut images = Vec::new();
    for device in [tch::Device::Cpu, tch::Device::Cuda(0)] {
        let out = train(&pairs, Normalizer::from_lr(lr.view()).unwrap(), &cfg, device, None, &mut |_| {}).unwrap();
        assert_eq!(out.model.device(), device);
        let rec = reconstruct(&out.model, lr.view(), &[], &ReconstructConfig::default()).unwrap();
        images.push(rec.sr_m);
    }
    let moved = images[0].iter().zip(lr.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(moved > 0.05e-9, "the trained network barely changes x0 ({moved} m): the comparison would be trivial");
    let max_diff = images[0].iter().zip(images[1].iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max_diff < 0.01 * moved, "CPU and CUDA reconstructions differ by {max_diff} m (the network moves x0 by {moved} m)");
}
