//! Training: the loss falls on a tiny overfit problem, the auxiliary terms really act, seeded CPU runs
//! repeat exactly, early stopping keeps the best weights, and a run's files can be reloaded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::model::{ModelConfig, ModelInfo, TrainedModel, VelocityField};
use afm_spark::train::{
    evaluate, flow_matching_loss, save_artifacts, train, LossWeights, Normalizer, PairTensors, StopReason, TilePair, TrainConfig,
};
use ndarray::Array2;
use tch::{Device, Kind, Tensor};

/// Four fixed 16×16 pairs: x0 smooth, x1 = x0 plus sharp detail (steps and a checker), metres.
fn pairs(n: usize) -> Vec<TilePair> {
    (0..n)
        .map(|k| {
            let k = k as f32;
            let x0 = Array2::from_shape_fn((16, 16), |(r, c)| 1e-9 * ((0.2 * r as f32 + k).sin() + (0.15 * c as f32 - k).cos()));
            let x1 = Array2::from_shape_fn((16, 16), |(r, c)| {
                let step = if (c as f32) > 5.0 + 2.0 * k { 0.8e-9 } else { 0.0 };
                let checker = if (r / 2 + c / 2) % 2 == 0 { 0.3e-9 } else { -0.3e-9 };
                x0[[r, c]] + step + checker
            });
            TilePair { x0, x1 }
        })
        .collect()
}

/// The LR normalisation; also keeps libtorch to one thread per test (tests run in parallel on few cores).
fn norm(p: &[TilePair]) -> Normalizer {
    tch::set_num_threads(1);
    Normalizer::from_lr(p[0].x0.view()).unwrap()
}

fn small(max_steps: usize) -> TrainConfig {
    TrainConfig { base: 8, t_ch: 16, lr: 3e-3, max_steps, n_val: 0, eval_interval_steps: 10, ..TrainConfig::default() }
}

#[test]
fn overfit_four_pairs_loss_falls_tenfold() {
    let p = pairs(4);
    let out = train(&p, norm(&p), &small(150), Device::Cpu, &mut |_| {}).unwrap();
    let first = out.history.records[0].train_loss;
    let last = out.history.records.last().unwrap().train_loss;
    assert!(first / last >= 10.0, "loss fell only from {first} to {last}");
    assert_eq!((out.steps, out.stop), (150, StopReason::MaxSteps));
    assert!(out.mean_step_ms > 0.0);
}

#[test]
fn auxiliary_terms_change_the_loss_and_its_gradient() {
    let p = pairs(2);
    let info = ModelInfo { model: ModelConfig { base: 4, t_ch: 8 }, normalizer: norm(&p), tile_rows: 16, tile_cols: 16 };
    let model = TrainedModel::new(info, Device::Cpu, 0);
    let data = PairTensors::new(&p, &info.normalizer, Device::Cpu);
    let t = Tensor::from_slice(&[0.2f32, 0.6]);
    let grads = |w: LossWeights| {
        let vars = model.var_store().trainable_variables();
        for v in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let loss = flow_matching_loss(&model, &data.x0, &data.x1, &t, w);
        loss.total.backward();
        let flat = Tensor::cat(&vars.iter().map(|v| v.grad().flatten(0, -1)).collect::<Vec<_>>(), 0);
        (loss, flat)
    };
    let (plain, g0) = grads(LossWeights { lambda_grad: 0.0, lambda_lap: 0.0 });
    let (full, g1) = grads(LossWeights { lambda_grad: 0.1, lambda_lap: 0.05 });
    // x̂1 is far from x1 here, so both terms are sizeable
    assert!(plain.gradient > 0.05 && plain.laplacian > 0.05, "{} {}", plain.gradient, plain.laplacian);
    let expected = plain.velocity + 0.1 * plain.gradient + 0.05 * plain.laplacian;
    assert!((full.total.double_value(&[]) - expected).abs() < 1e-6 * expected);
    let rel = (&g1 - &g0).norm().double_value(&[]) / g0.norm().double_value(&[]);
    let (_, g_aux) = grads(LossWeights { lambda_grad: 1.0, lambda_lap: 1.0 });
    let rel_aux = (&g_aux - &g0).norm().double_value(&[]) / g0.norm().double_value(&[]);
    eprintln!("relative gradient change: defaults {rel:.4}, λ = 1: {rel_aux:.4}");
    assert!(rel > 1e-3, "default weights changed the gradient by only {rel}");
    assert!(rel_aux > 1e-2, "λ = 1 changed the gradient by only {rel_aux}");
}

#[test]
fn seeded_cpu_training_repeats_exactly() {
    let p = pairs(5);
    let cfg = TrainConfig { n_val: 1, batch_size: Some(2), crop_px: Some(8), flip_slow_axis: true, k_t: 2, ..small(40) };
    let a = train(&p, norm(&p), &cfg, Device::Cpu, &mut |_| {}).unwrap();
    let b = train(&p, norm(&p), &cfg, Device::Cpu, &mut |_| {}).unwrap();
    let losses =
        |o: &afm_spark::train::TrainOutcome| o.history.records.iter().map(|r| (r.step, r.train_loss, r.val_loss)).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    let c = train(&p, norm(&p), &TrainConfig { seed: 1, ..cfg }, Device::Cpu, &mut |_| {}).unwrap();
    assert_ne!(losses(&a), losses(&c));
}

#[test]
fn early_stopping_keeps_the_best_weights_and_reports_progress() {
    let p = pairs(4);
    let cfg = TrainConfig { n_val: 1, eval_interval_steps: 5, patience_steps: 15, lr: 3e-2, ..small(400) };
    let mut calls = 0;
    let out = train(&p, norm(&p), &cfg, Device::Cpu, &mut |pr| {
        calls += 1;
        assert_eq!(pr.step, calls);
    })
    .unwrap();
    assert_eq!(calls, out.steps);
    let best = out.best_val_loss.unwrap();
    let min = out.history.records.iter().filter_map(|r| r.val_loss).fold(f64::INFINITY, f64::min);
    assert_eq!(best, min);
    let val = PairTensors::new(&p[3..], &norm(&p), Device::Cpu);
    let w = LossWeights { lambda_grad: cfg.lambda_grad, lambda_lap: cfg.lambda_lap };
    assert!((evaluate(&out.model, &val, w) - best).abs() < 1e-9 * best.max(1.0));
    if out.stop == StopReason::EarlyStop {
        assert!(out.steps - out.best_step >= cfg.patience_steps);
    }
    let budget = TrainConfig { time_budget_s: Some(1e-6), ..cfg };
    let quick = train(&p, norm(&p), &budget, Device::Cpu, &mut |_| {}).unwrap();
    assert_eq!((quick.steps, quick.stop), (1, StopReason::TimeBudget));
}

#[test]
fn artifacts_are_written_and_reload() {
    let p = pairs(3);
    let cfg = TrainConfig { n_val: 1, ..small(20) };
    let out = train(&p, norm(&p), &cfg, Device::Cpu, &mut |_| {}).unwrap();
    let dir = std::env::temp_dir().join(format!("afm-spark-train-{}", std::process::id()));
    save_artifacts(&dir, &out, &cfg).unwrap();
    for f in ["model.safetensors", "model.json", "train_config.json", "loss.csv", "loss.png"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let back = TrainedModel::load(&dir, Device::Cpu).unwrap();
    let x = Tensor::randn([1, 1, 16, 16], (Kind::Float, Device::Cpu));
    let t = Tensor::from_slice(&[0.5f32]);
    let d = (back.velocity(&x, &x, &t) - out.model.velocity(&x, &x, &t)).abs().max().double_value(&[]);
    assert_eq!(d, 0.0);
    let cfg_back: TrainConfig = serde_json::from_str(&std::fs::read_to_string(dir.join("train_config.json")).unwrap()).unwrap();
    assert_eq!(cfg_back, cfg);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_are_refused() {
    let p = pairs(2);
    assert!(train(&p, norm(&p), &TrainConfig { n_val: 2, ..small(5) }, Device::Cpu, &mut |_| {}).is_err());
    assert!(train(&p, norm(&p), &TrainConfig { crop_px: Some(32), ..small(5) }, Device::Cpu, &mut |_| {}).is_err());
    assert!(train(&p, norm(&p), &TrainConfig { lr: 0.0, ..small(5) }, Device::Cpu, &mut |_| {}).is_err());
}
