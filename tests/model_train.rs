//! Training: the loss falls on a tiny overfit problem, the auxiliary terms really act, seeded CPU runs
//! repeat exactly, model selection keeps the weights the validator scored best (the EMA's when
//! averaging), early stopping waits its patience, and a run's files can be reloaded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::model::{ModelConfig, ModelInfo, TrainedModel, VelocityField};
use afm_spark::train::{
    flow_matching_loss, save_artifacts, train, LossWeights, Normalizer, PairTensors, StopReason, TilePair, TrainConfig, Validation,
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
    let out = train(&p, norm(&p), &small(150), Device::Cpu, None, &mut |_| {}).unwrap();
    let first = out.history.records[0].train_loss;
    let last = out.history.records.last().unwrap().train_loss;
    assert!(first / last >= 10.0, "loss fell only from {first} to {last}");
    assert_eq!((out.steps, out.stop), (150, StopReason::MaxSteps));
    assert!(out.mean_step_ms > 0.0);
}

#[test]
fn auxiliary_terms_change_the_loss_and_its_gradient() {
    let p = pairs(2);
    let info =
        ModelInfo { model: ModelConfig { base: 4, t_ch: 8, center_heights: false }, normalizer: norm(&p), tile_rows: 16, tile_cols: 16 };
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
    let cfg = TrainConfig { batch_size: Some(2), crop_px: Some(8), flip_slow_axis: true, k_t: 2, ..small(40) };
    let a = train(&p, norm(&p), &cfg, Device::Cpu, None, &mut |_| {}).unwrap();
    let b = train(&p, norm(&p), &cfg, Device::Cpu, None, &mut |_| {}).unwrap();
    let losses = |o: &afm_spark::train::TrainOutcome| o.history.records.iter().map(|r| (r.step, r.train_loss)).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    let c = train(&p, norm(&p), &TrainConfig { seed: 1, ..cfg }, Device::Cpu, None, &mut |_| {}).unwrap();
    assert_ne!(losses(&a), losses(&c));
}

/// The network's velocity on a fixed input: a fingerprint of its weights.
fn fingerprint(m: &TrainedModel) -> Vec<f32> {
    let x = Tensor::linspace(-1.0, 1.0, 256, (Kind::Float, Device::Cpu)).view([1, 1, 16, 16]);
    let t = Tensor::from_slice(&[0.3f32]);
    Vec::<f32>::try_from(m.velocity(&x, &x, &t).flatten(0, -1)).unwrap()
}

#[test]
fn model_selection_keeps_the_best_scored_weights_and_stops_after_its_patience() {
    let p = pairs(4);
    let cfg = TrainConfig { eval_interval_steps: 5, patience_steps: 15, lr: 3e-2, ..small(400) };
    // A validator whose score peaks at its 4th call (step 20), remembering what it saw then.
    let (mut calls, mut seen) = (0usize, Vec::new());
    let mut validator = |m: &TrainedModel| {
        calls += 1;
        seen.push(fingerprint(m));
        let gain_db = -((calls as f64) - 4.0).abs();
        Validation { gain_db, psnr_sr_db: 30.0 + gain_db, psnr_fair_db: 30.0, worst_gain_db: gain_db, gain_t: gain_db }
    };
    let mut steps_seen = 0;
    let out = train(&p, norm(&p), &cfg, Device::Cpu, Some(&mut validator), &mut |pr| {
        steps_seen += 1;
        assert_eq!(pr.step, steps_seen);
    })
    .unwrap();
    assert_eq!((out.best_step, out.best_val_score), (20, Some(0.0)));
    assert_eq!(out.stop, StopReason::EarlyStop);
    assert_eq!(out.steps, 20 + cfg.patience_steps, "stops once the patience is used up");
    assert_eq!(fingerprint(&out.model), seen[3], "the kept weights are the ones scored best");
    assert_ne!(seen[3], seen[6], "the weights kept changing after the best");
    let gains: Vec<_> = out.history.records.iter().filter_map(|r| r.val_gain_db).collect();
    assert_eq!(gains.len(), 7);
    // The wall-time cap is a safety net only, and says so.
    let budget = TrainConfig { time_budget_s: Some(1e-6), ..cfg };
    let quick = train(&p, norm(&p), &budget, Device::Cpu, None, &mut |_| {}).unwrap();
    assert_eq!((quick.steps, quick.stop), (1, StopReason::TimeBudget));
}

#[test]
fn an_ema_of_the_weights_is_what_is_validated_and_kept() {
    let p = pairs(4);
    let cfg = TrainConfig { eval_interval_steps: 20, lr: 3e-2, ..small(60) };
    let mut seen = Vec::new();
    let mut validator = |m: &TrainedModel| {
        seen.push(fingerprint(m));
        let gain_db = seen.len() as f64; // the last one is the best
        Validation { gain_db, psnr_sr_db: 30.0 + gain_db, psnr_fair_db: 30.0, worst_gain_db: gain_db, gain_t: gain_db }
    };
    let raw = train(&p, norm(&p), &cfg, Device::Cpu, None, &mut |_| {}).unwrap();
    let ema =
        train(&p, norm(&p), &TrainConfig { ema_decay: Some(0.9), ..cfg.clone() }, Device::Cpu, Some(&mut validator), &mut |_| {}).unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(fingerprint(&ema.model), seen[2], "the validated (averaged) weights are kept");
    let d: f32 = fingerprint(&raw.model).iter().zip(&seen[2]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(d > 1e-4, "the average should differ from the last raw weights (max diff {d})");
    // the raw training is unchanged by averaging: same loss history
    let losses = |o: &afm_spark::train::TrainOutcome| o.history.records.iter().map(|r| r.train_loss).collect::<Vec<_>>();
    assert_eq!(losses(&raw), losses(&ema));
    assert!(train(&p, norm(&p), &TrainConfig { ema_decay: Some(1.0), ..cfg }, Device::Cpu, None, &mut |_| {}).is_err());
}

#[test]
fn artifacts_are_written_and_reload() {
    let p = pairs(3);
    let cfg = small(20);
    let out = train(&p, norm(&p), &cfg, Device::Cpu, None, &mut |_| {}).unwrap();
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
    assert!(train(&[], norm(&p), &small(5), Device::Cpu, None, &mut |_| {}).is_err());
    assert!(train(&p, norm(&p), &TrainConfig { crop_px: Some(32), ..small(5) }, Device::Cpu, None, &mut |_| {}).is_err());
    assert!(train(&p, norm(&p), &TrainConfig { lr: 0.0, ..small(5) }, Device::Cpu, None, &mut |_| {}).is_err());
}
