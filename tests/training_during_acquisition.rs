//! Training during acquisition, end to end on the real-time simulator: the worker trains while the
//! patches arrive, the final phase runs `final_steps` from its weights, and metrics.json says how
//! many steps ran during acquisition and how soon after the last patch the image was ready;
//! `--sequential` and a simulator that takes no real time train after the last patch instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

const CONFIG: &str = r#"
[run]
name = "overlap-test"
seed = 5
device = "cpu"
[frame]
scan_size_m = 4e-6
hr_points = 128
hr_lines = 128
hr_line_rate_hz = 20.0
[select]
grid = 8
n_select = 8
[instrument]
settle_s = 0.35
move_speed_m_per_s = 50e-6
[simulator]
realtime = true
time_scale = 0.5
[simulator.surface]
kind = "particles"
size_m = 4e-6
pixels = 256
[train]
base = 8
t_ch = 16
k_t = 1
batch_size = 4
max_steps = 40
eval_interval_steps = 10
n_val = 2
final_steps = 10
seed = 3
"#;

fn run(dir: &Path, name: &str, config: &str, extra: &[&str]) -> serde_json::Value {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let out = dir.join(name);
    let res = Command::new(env!("CARGO_BIN_EXE_afm-spark"))
        .args(["-q", "run", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(res.status.success(), "{name}: {}", String::from_utf8_lossy(&res.stderr));
    let stdout = String::from_utf8_lossy(&res.stdout).to_string();
    assert!(stdout.contains("s after the last patch"), "{name}: {stdout}");
    assert!(out.join("live.png").is_file(), "{name}: live.png");
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
}

/// A fresh folder of this process for the test `name` (tests run side by side).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("afm-overlap-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn training_overlaps_acquisition_unless_asked_not_to() {
    let dir = scratch("overlap");
    let overlapped = run(&dir, "overlapped", CONFIG, &[]);
    let training = &overlapped["training"];
    let during = training["during_acquisition_steps"].as_u64().expect("steps during acquisition recorded");
    assert!(during >= 25, "the worker trained only {during} steps during ~2.5 s of scanning");
    assert_eq!(training["steps"].as_u64(), Some(10), "the final phase runs final_steps");
    let n_train = training["n_train"].as_u64().unwrap();
    assert!((1..=6).contains(&n_train), "8 patches, 2 held out, ambiguous ones not trained on: {n_train}");
    let ready = overlapped["timing"]["ready_after_last_patch_s"].as_f64().unwrap();
    assert!(ready > 0.0 && ready < overlapped["timing"]["total_s"].as_f64().unwrap());
    assert!(matches!(overlapped["output"].as_str(), Some("sr" | "filtered_baseline" | "baseline")));

    let sequential = run(&dir, "sequential", CONFIG, &["--sequential"]);
    assert!(sequential["training"].get("during_acquisition_steps").is_none(), "{}", sequential["training"]);
    assert_eq!(sequential["training"]["steps"].as_u64(), Some(40), "sequential training runs max_steps");
    assert!(sequential["timing"]["ready_after_last_patch_s"].as_f64().is_some());
    // The same picks either way: training never changes what is scanned.
    assert_eq!(overlapped["acquisition"]["picks"], sequential["acquisition"]["picks"]);

    // A simulator that takes no real time leaves nothing to overlap with.
    let instant = run(&dir, "instant", &CONFIG.replace("realtime = true", "realtime = false"), &[]);
    assert!(instant["training"].get("during_acquisition_steps").is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `[train] cross_fit` (the replays' default) applies where training runs after the last patch: two
/// networks, each validated on the other's patches, so every trainable patch is held out once. While
/// acquisition trains one network, it is not cross-fitted.
#[test]
fn training_after_acquisition_cross_fits_when_the_config_asks() {
    let dir = scratch("cross-fit");
    let config = CONFIG.replace("seed = 3\n", "seed = 3\ncross_fit = true\n");
    let after = run(&dir, "after", &config.replace("realtime = true", "realtime = false"), &[]);
    let training = &after["training"];
    let held_out = training["held_out"].as_array().unwrap().len();
    // every trainable patch held out once; each network trains on one of the two halves
    assert!(held_out >= 4, "every trainable patch is held out once: {training}");
    assert_eq!(training["n_train"].as_u64(), Some(held_out.div_ceil(2) as u64), "{training}");
    assert_eq!(training["steps"].as_u64(), Some(80), "two networks of max_steps each: {training}");
    assert_eq!(training["val_piece_gains_db"].as_array().map(Vec::len), Some(held_out));
    assert!(after["output_reason"].as_str().unwrap().contains("cross-fitted"), "{}", after["output_reason"]);
    assert!(dir.join("after/model/cross_fit_b/model.safetensors").is_file(), "the second network's checkpoint");
    let overlapped = run(&dir, "overlapped", &config, &[]);
    assert!(overlapped["training"]["during_acquisition_steps"].as_u64().is_some());
    assert!(overlapped["training"]["held_out"].as_array().unwrap().len() <= 2, "{}", overlapped["training"]);
    assert!(!dir.join("overlapped/model/cross_fit_b").exists(), "training during acquisition keeps one network");
    std::fs::remove_dir_all(&dir).unwrap();
}
