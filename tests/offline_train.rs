//! `afm-spark train` and `afm-spark reconstruct` end to end on a small .npy pair made here (a 64 × 64
//! terraced HR array and its `[::4, ::4]` LR): the n-list folders with their checkpoints, the
//! reconstruction on the HR grid with the measured patches in place and the baselines at the right
//! geometry, finite metrics, and one clear error line for bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use afm_spark::io::npy::{read_array, write_array};
use ndarray::{s, Array2};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("afm-offline-train-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Terraces (1 nm steps) with wavy edges and a few bumps, metres.
fn terraces(n: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, n), |(r, c)| {
        let (x, y) = (c as f64, r as f64);
        let phase = (0.8 * x + 0.6 * y) / 11.0 + 0.3 * (y / 7.0).sin();
        let bump = (-((x - 40.0).powi(2) + (y - 20.0).powi(2)) / 18.0).exp();
        ((phase.floor() + 0.6 * bump) * 1e-9) as f32
    })
}

/// Writes hr.npy (64 × 64) and lr.npy (= HR[::4, ::4], 16 × 16) into `dir`.
fn pair(dir: &Path) -> (PathBuf, PathBuf, Array2<f32>, Array2<f32>) {
    let hr = terraces(64);
    let lr = hr.slice(s![..;4, ..;4]).to_owned();
    let (hr_path, lr_path) = (dir.join("hr.npy"), dir.join("lr.npy"));
    write_array(&hr_path, &hr).unwrap();
    write_array(&lr_path, &lr).unwrap();
    (hr_path, lr_path, hr, lr)
}

fn afm(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_afm-spark"));
    cmd.arg("-q").args(args);
    for (flag, p) in paths {
        cmd.arg(flag).arg(p);
    }
    cmd.output().expect("cannot run afm-spark")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const TINY: [&str; 20] = [
    "train",
    "--grid",
    "4",
    "--n-select",
    "6",
    "--n-list",
    "3,6",
    "--preset",
    "cpu",
    "--base",
    "4",
    "--t-ch",
    "8",
    "--k-t",
    "1",
    "--max-steps",
    "12",
    "--device",
    "cpu",
    "--steps-infer",
];

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn train_then_reconstruct_on_a_npy_pair() {
    let dir = temp_dir("pair");
    let (hr_path, lr_path, _, lr) = pair(&dir);
    let out = dir.join("run");
    let mut args = TINY.to_vec();
    args.extend(["2", "--amp"]);
    let res = afm(&args, &[("--hr", &hr_path), ("--lr", &lr_path), ("--out-dir", &out)]);
    assert!(res.status.success(), "{}", text(&res.stderr));
    let stdout = text(&res.stdout);
    assert!(stdout.contains("strided: LR pixel k on HR pixel 4·k (LR = HR[::4, ::4])"), "{stdout}");
    assert!(stdout.contains("registration off: the LR is the HR's own decimation"), "{stdout}");
    assert!(text(&res.stderr).contains("--amp has no effect"), "the ignored flag must be said: {}", text(&res.stderr));
    for f in ["options.json", "selection.csv", "picks.png", "summary.csv"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert_eq!(std::fs::read_to_string(out.join("summary.csv")).unwrap().lines().count(), 3);
    let options = json(&out.join("options.json"));
    let picks: Vec<u64> = options["picks"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(picks.len(), 6);
    assert_eq!(options["amp_requested"], serde_json::Value::Bool(true));
    for n in [3usize, 6] {
        let d = out.join(format!("n{n}"));
        for f in [
            "model.safetensors",
            "model.json",
            "train_config.json",
            "loss.csv",
            "loss.png",
            "acquired.json",
            "metrics.json",
            "sr.npy",
            "panels.png",
        ] {
            assert!(d.join(f).is_file(), "n{n}/{f} missing");
        }
        let acquired = json(&d.join("acquired.json"));
        let tiles: Vec<u64> = acquired["tiles"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(tiles, picks[..n], "model n{n} trains on the first {n} picks");
        // the cpu preset holds out 4 patches to validate by reconstruction, at most n − 1
        let n_val = 4.min(n - 1) as u64;
        assert_eq!(acquired["n_val"].as_u64(), Some(n_val));
        let metrics = json(&d.join("metrics.json"));
        assert!(metrics["training"]["steps"].as_u64().is_some_and(|s| s <= 12));
        assert_eq!(metrics["training"]["n_train"].as_u64(), Some(n as u64 - n_val));
        assert_eq!(metrics["training"]["held_out"].as_array().map(Vec::len), Some(n_val as usize));
        assert!(matches!(metrics["output"].as_str(), Some("sr" | "filtered_baseline" | "baseline")), "{}", metrics["output"]);
    }

    // a second training into the same folder must not overwrite the checkpoints
    let again = afm(&args, &[("--hr", &hr_path), ("--lr", &lr_path), ("--out-dir", &out)]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("a checkpoint is already there"), "{}", text(&again.stderr));

    let res = afm(
        &["reconstruct", "--steps-infer", "2", "--batch-size", "8", "--device", "cpu"],
        &[("--weights", &out), ("--hr", &hr_path), ("--lr", &lr_path)],
    );
    assert!(res.status.success(), "{}", text(&res.stderr));
    let inf = out.join("inference").join("n3");
    let sr = read_array(&inf.join("sr.npy")).unwrap();
    assert_eq!(sr.dim(), (64, 64));
    assert!(sr.iter().all(|v| v.is_finite()));
    // measured data beats inference: away from the 4-px feathered seam the acquired tiles are the
    // (levelled) measurement, the same in SR and in the fair baseline, and not what the model inferred
    let acquired = json(&out.join("n3").join("acquired.json"));
    let fair = read_array(&inf.join("fair_baseline.npy")).unwrap();
    let inferred = read_array(&inf.join("sr_unpasted.npy")).unwrap();
    for rect in acquired["rects"].as_array().unwrap() {
        let (col, row) = (rect["col"].as_u64().unwrap() as usize, rect["row"].as_u64().unwrap() as usize);
        let inner = s![row + 4..row + 12, col + 4..col + 12];
        assert_eq!(sr.slice(inner), fair.slice(inner));
        assert_ne!(sr.slice(inner), inferred.slice(inner));
    }
    let mask = read_array(&inf.join("acquired_mask.npy")).unwrap();
    assert_eq!(mask.sum(), 3.0 * 16.0 * 16.0);
    // the baselines put the levelled LR's pixel k on HR pixel 4k (strided geometry)
    let bicubic = read_array(&inf.join("bicubic.npy")).unwrap();
    assert_eq!(read_array(&inf.join("lr.npy")).unwrap(), lr, "lr.npy is the LR as read");
    let levelled = read_array(&inf.join("lr_levelled.npy")).unwrap();
    for ((r, c), &v) in levelled.indexed_iter() {
        assert!((bicubic[[4 * r, 4 * c]] - v).abs() < 1e-14, "HR pixel ({}, {}) vs LR ({r}, {c})", 4 * r, 4 * c);
    }
    let metrics = json(&inf.join("metrics.json"));
    for method in ["delivered", "sr", "sr_unpasted", "fair_baseline", "bicubic", "nearest"] {
        for region in ["whole", "unacquired"] {
            let v = metrics["psnr"][method][region].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite() && v > 0.0, "psnr.{method}.{region} = {v}");
        }
    }
    // the LR is the HR's own decimation: the patches lie where they were cut and are not searched
    let registrations = metrics["registration"].as_array().unwrap();
    assert_eq!(registrations.len(), 3);
    assert!(registrations.iter().all(|r| r["searched"] == serde_json::Value::Bool(false) && r["shift_x_m"] == 0.0), "{registrations:?}");
    // SR with the patches pasted is better on the whole image than without, identical off the patches
    assert!(metrics["psnr"]["sr"]["whole"].as_f64() > metrics["psnr"]["sr_unpasted"]["whole"].as_f64());
    assert!(out.join("inference").join("n6").join("panels.png").is_file());
    let stdout = text(&res.stdout);
    assert!(stdout.contains("n6") && stdout.contains("bicubic"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A 72 × 72 px HR image cannot be cut into 4 × 4 tiles of a multiple of 4 px: `train` uses its
/// centred 64 × 64 px (from pixel 4, an LR pixel) — with the LR's pixels on it for a strided pair, the
/// whole LR placed over it for a corner-to-corner pair — records the part, and `reconstruct` cuts the
/// same part again.
#[test]
fn a_pair_the_grid_cannot_tile_trains_and_reconstructs_on_its_centred_part() {
    let dir = temp_dir("cut");
    let hr = terraces(72);
    let (hr_path, lr_path) = (dir.join("hr.npy"), dir.join("lr.npy"));
    write_array(&hr_path, &hr).unwrap();
    write_array(&lr_path, &hr.slice(s![..;4, ..;4]).to_owned()).unwrap();
    for (geometry, lr_on_the_part) in [("strided", "(LR 16×16 px on it)"), ("corner", "(the LR, whole, placed over it as over the file)")]
    {
        let out = dir.join(geometry);
        let mut args = TINY.to_vec();
        args.extend(["1", "--lr-geometry", geometry]);
        let res = afm(&args, &[("--hr", &hr_path), ("--lr", &lr_path), ("--out-dir", &out)]);
        assert!(res.status.success(), "{geometry}: {}", text(&res.stderr));
        let stdout = text(&res.stdout);
        assert!(stdout.contains("(HeightTrace, 72×72 px)") && stdout.contains("(HeightTrace, 18×18 px)"), "{stdout}");
        assert!(stdout.contains("HR points 4…67, lines 4…67: 64×64 px") && stdout.contains(lr_on_the_part), "{stdout}");
        if geometry == "strided" {
            assert!(stdout.contains("registration off: the LR is the HR's own decimation"), "{stdout}");
        }
        let acquired = json(&out.join("n3").join("acquired.json"));
        assert_eq!((acquired["hr_points"].as_u64(), acquired["hr_lines"].as_u64()), (Some(64), Some(64)));
        assert_eq!(acquired["hr_crop"], serde_json::json!({"col": 4, "row": 4, "cols": 64, "rows": 64}));
        // the outputs lie on the part
        let sr = read_array(&out.join("n3").join("sr.npy")).unwrap();
        assert_eq!(sr.dim(), (64, 64));
        let res =
            afm(&["reconstruct", "--steps-infer", "1", "--device", "cpu"], &[("--weights", &out), ("--hr", &hr_path), ("--lr", &lr_path)]);
        assert!(res.status.success(), "{geometry}: {}", text(&res.stderr));
        let inf = out.join("inference").join("n3");
        for file in ["fair_baseline.npy", "sr_unpasted.npy"] {
            assert_eq!(read_array(&inf.join(file)).unwrap(), read_array(&out.join("n3").join(file)).unwrap(), "{geometry}: {file}");
        }
    }
    // a 64 × 64 px file is not the part it was trained on, though of the same size
    let (other_hr, other_lr, _, _) = pair(&dir);
    let res = afm(&["reconstruct", "--device", "cpu"], &[("--weights", &dir.join("strided")), ("--hr", &other_hr), ("--lr", &other_lr)]);
    assert!(!res.status.success());
    assert!(text(&res.stderr).contains("the model was trained on 64×64 px from point 4, line 4 of its HR image"), "{}", text(&res.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A refused invocation: subcommand and flags, path arguments, and the text its error must contain.
type BadCase<'a> = (Vec<&'a str>, Vec<(&'a str, &'a Path)>, &'a str);

#[test]
fn bad_pairs_and_options_fail_with_one_clear_line() {
    let dir = temp_dir("bad");
    let (hr_path, lr_path, hr, _) = pair(&dir);
    let odd = dir.join("lr20.npy");
    write_array(&odd, &hr.slice(s![..20, ..20]).to_owned()).unwrap();
    let lr40 = dir.join("lr40.npy");
    write_array(&lr40, &hr.slice(s![..40, ..40]).to_owned()).unwrap();
    let missing = dir.join("nope.npy");
    let out = dir.join("run");
    let cases: Vec<BadCase> = vec![
        (
            vec!["train"],
            vec![("--hr", &hr_path), ("--lr", &odd), ("--out-dir", &out)],
            "no step f makes the LR the decimation HR[::f, ::f]",
        ),
        (vec!["train"], vec![("--hr", &hr_path), ("--lr", &missing), ("--out-dir", &out)], "nope.npy"),
        (
            vec!["train", "--grid", "4", "--n-select", "17"],
            vec![("--hr", &hr_path), ("--lr", &lr_path), ("--out-dir", &out)],
            "n_select = 17: must be 1 … 16",
        ),
        (
            vec!["train", "--grid", "4", "--n-select", "5", "--n-list", "2,8"],
            vec![("--hr", &hr_path), ("--lr", &lr_path), ("--out-dir", &out)],
            "--n-list = 8: every patch count must be 1 … 5",
        ),
        (
            // 17 tiles of at least 4 px need 68 px: no part of the 64 px HR will do
            vec!["train", "--grid", "17", "--n-select", "3", "--lr-geometry", "corner"],
            vec![("--hr", &hr_path), ("--lr", &lr40), ("--out-dir", &out)],
            "--grid = 17: the HR image is 64×64 px",
        ),
        (vec!["train"], vec![("--hr", &lr_path), ("--lr", &hr_path), ("--out-dir", &out)], "swapped --hr and --lr?"),
        (vec!["reconstruct"], vec![("--weights", &dir), ("--hr", &hr_path), ("--lr", &lr_path)], "no checkpoint here"),
    ];
    for (args, paths, expected) in cases {
        let res = afm(&args, &paths);
        let err = text(&res.stderr);
        assert!(!res.status.success(), "{args:?} should fail");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line, got {err}");
        assert!(err.starts_with("error: ") && err.contains(expected), "{args:?}: expected {expected:?} in {err}");
    }
    assert!(!out.join("n20").exists(), "nothing trained on bad input");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn real_ibw_with_its_decimated_npy_uses_the_ibw_region_strided() {
    let ibw = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/P0089OP0027.ibw"));
    if !ibw.exists() {
        eprintln!("SKIPPED: {} not found (the shared test data folder is absent)", ibw.display());
        return;
    }
    let dir = temp_dir("ibw");
    let loaded = afm_spark::io::load(&ibw).unwrap();
    let hr = loaded.channel(Some("HeightRetrace")).unwrap().data.clone();
    let lr = hr.slice(s![..;4, ..;4]).to_owned();
    let lr_path = dir.join("lr.npy");
    write_array(&lr_path, &lr).unwrap();
    let mut bicubic_unacquired = Vec::new();
    for geometry in ["auto", "corner"] {
        let out = dir.join(geometry);
        let args = [
            "train",
            "--channel",
            "HeightRetrace",
            "--lr-geometry",
            geometry,
            "--n-select",
            "4",
            "--preset",
            "cpu",
            "--base",
            "4",
            "--t-ch",
            "8",
            "--k-t",
            "1",
            "--max-steps",
            "2",
            "--device",
            "cpu",
            "--steps-infer",
            "1",
        ];
        let res = afm(&args, &[("--hr", &ibw), ("--lr", &lr_path), ("--out-dir", &out)]);
        assert!(res.status.success(), "{}", text(&res.stderr));
        let metrics = json(&out.join("n4").join("metrics.json"));
        bicubic_unacquired.push(metrics["psnr"]["bicubic"]["unacquired"].as_f64().unwrap());
        if geometry == "auto" {
            assert!(text(&res.stdout).contains("strided: LR pixel k on HR pixel 4·k"), "{}", text(&res.stdout));
            // the levelled LR's pixel k lies on HR pixel 4k
            let bicubic = read_array(&out.join("n4").join("bicubic.npy")).unwrap();
            let levelled = read_array(&out.join("n4").join("lr_levelled.npy")).unwrap();
            for ((r, c), &v) in levelled.indexed_iter() {
                assert!((bicubic[[4 * r, 4 * c]] - v).abs() <= 1e-6 * v.abs().max(1e-9), "HR ({}, {}) vs LR ({r}, {c})", 4 * r, 4 * c);
            }
        }
    }
    eprintln!(
        "bicubic PSNR on the unacquired region: strided {:.2} dB, corner-aligned {:.2} dB",
        bicubic_unacquired[0], bicubic_unacquired[1]
    );
    assert!(bicubic_unacquired[0] > bicubic_unacquired[1] + 1.0, "{bicubic_unacquired:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `[train] cross_fit = true`: two networks, each trained on every other pick and validated on the
/// other's, so every patch is held out once; both checkpoints are kept, and `reconstruct` delivers
/// their mean as the training run did (not the first network alone).
#[test]
fn cross_fitted_networks_are_both_kept_and_reconstructed_together() {
    let dir = temp_dir("cross-fit");
    let (hr_path, lr_path, _, _) = pair(&dir);
    let config = dir.join("cross_fit.toml");
    std::fs::write(
        &config,
        "[train]\nbase = 4\nt_ch = 8\nk_t = 1\nlr = 1e-3\nmax_steps = 12\neval_interval_steps = 4\nbatch_size = 4\n\
         n_val = 2\nema_decay = 0.9\nflip_slow_axis = true\nzero_init_output = false\ncross_fit = true\nseed = 3\n\
         [reconstruct]\nlr_anchor_sigma_lr_px = 0.0\n",
    )
    .unwrap();
    let out = dir.join("run");
    let res = afm(
        &["train", "--grid", "4", "--n-select", "6", "--n-list", "6", "--device", "cpu", "--steps-infer", "1"],
        &[("--config", &config), ("--hr", &hr_path), ("--lr", &lr_path), ("--out-dir", &out)],
    );
    assert!(res.status.success(), "{}", text(&res.stderr));
    let run = out.join("n6");
    assert!(run.join("cross_fit_b").join("model.safetensors").is_file(), "the second network's checkpoint is missing");
    let metrics = json(&run.join("metrics.json"));
    let training = &metrics["training"];
    assert_eq!(training["held_out"].as_array().map(Vec::len), Some(6), "every patch is held out once: {training}");
    assert_eq!(training["val_piece_gains_db"].as_array().map(Vec::len), Some(6), "{training}");
    assert_eq!(training["n_train"].as_u64(), Some(3), "each network trains on half the patches");
    assert!(training["steps"].as_u64().is_some_and(|s| s > 12 && s <= 24), "two trainings: {training}");
    assert!(metrics["output_reason"].as_str().is_some_and(|r| r.contains("cross-fitted")), "{}", metrics["output_reason"]);

    // `reconstruct` with the run's folder: the same mean of both networks
    let res = afm(
        &["reconstruct", "--device", "cpu", "--steps-infer", "1"],
        &[("--config", &config), ("--weights", &run), ("--hr", &hr_path), ("--lr", &lr_path)],
    );
    assert!(res.status.success(), "{}", text(&res.stderr));
    let trained = read_array(&run.join("sr_unpasted.npy")).unwrap();
    let both = read_array(&run.join("inference").join("sr_unpasted.npy")).unwrap();
    let largest = trained.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = |a: &Array2<f32>, b: &Array2<f32>| a.iter().zip(b.iter()).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff(&trained, &both) <= 1e-5 * largest, "reconstruct differs from the run by {}", diff(&trained, &both));
    // … which is the mean of what each network alone gives
    let alone = |name: &str, from: &Path| -> Array2<f32> {
        let single = dir.join(name);
        std::fs::create_dir_all(&single).unwrap();
        for f in ["model.safetensors", "model.json"] {
            std::fs::copy(from.join(f), single.join(f)).unwrap();
        }
        std::fs::copy(run.join("acquired.json"), single.join("acquired.json")).unwrap();
        let res = afm(
            &["reconstruct", "--device", "cpu", "--steps-infer", "1"],
            &[("--config", &config), ("--weights", &single), ("--hr", &hr_path), ("--lr", &lr_path)],
        );
        assert!(res.status.success(), "{}", text(&res.stderr));
        read_array(&single.join("inference").join("sr_unpasted.npy")).unwrap()
    };
    let (first, second) = (alone("first", &run), alone("second", &run.join("cross_fit_b")));
    let mean = Array2::from_shape_fn(first.dim(), |i| 0.5 * (first[i] + second[i]));
    let apart = diff(&first, &second);
    assert!(apart > 0.0, "the two networks reconstruct identically");
    assert!(
        diff(&mean, &both) <= 1e-3 * apart,
        "the run's reconstruction is {} from the networks' mean ({apart} apart)",
        diff(&mean, &both)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An image on which no patch registers (white noise: its point-sampled LR says nothing about where a
/// patch lies, so every correlation peak is low): nothing can be trained on without learning a
/// misalignment, and the run still succeeds and delivers the fair baseline with the measured patches,
/// saying why, instead of failing after the acquisition.
#[test]
fn no_registrable_patch_delivers_the_fair_baseline_instead_of_failing() {
    let dir = temp_dir("noise");
    // a deterministic stand-in for white noise (three incommensurate sines of the pixel index), 0.1 nm
    let hr = Array2::from_shape_fn((128, 128), |(r, c)| {
        let k = (r * 128 + c) as f64;
        (((k * 12.9898).sin() + (k * 78.233).sin() + (k * 37.719).sin()) * 1e-10) as f32
    });
    let (hr_path, lr_path) = (dir.join("hr.npy"), dir.join("lr.npy"));
    write_array(&hr_path, &hr).unwrap();
    write_array(&lr_path, &hr.slice(s![..;4, ..;4]).to_owned()).unwrap();
    // the LR is the HR's decimation, where patches are not registered unless a config asks for it
    let config = dir.join("register.toml");
    std::fs::write(&config, "[register]\nenabled = true\n").unwrap();
    let out = dir.join("run");
    let args = ["train", "--grid", "4", "--n-select", "4", "--preset", "cpu", "--max-steps", "2", "--device", "cpu"];
    let res = afm(&args, &[("--hr", &hr_path), ("--lr", &lr_path), ("--config", &config), ("--out-dir", &out)]);
    assert!(res.status.success(), "{}", text(&res.stderr));
    let metrics = json(&out.join("n4").join("metrics.json"));
    let registrations = metrics["registration"].as_array().unwrap();
    assert_eq!(registrations.len(), 4);
    assert!(registrations.iter().all(|r| r["ambiguous"] == serde_json::Value::Bool(true)), "{registrations:?}");
    assert_eq!(metrics["output"].as_str(), Some("baseline"));
    assert!(
        metrics["output_reason"].as_str().is_some_and(|r| r.contains("no acquired piece can be trained on")),
        "{}",
        metrics["output_reason"]
    );
    assert!(metrics["training"].is_null(), "nothing was trained: {}", metrics["training"]);
    let delivered = metrics["psnr"]["delivered"]["unacquired"].as_f64().unwrap();
    let fair = metrics["psnr"]["fair_baseline"]["unacquired"].as_f64().unwrap();
    assert!(delivered.is_finite() && delivered == fair, "delivered {delivered} dB, fair baseline {fair} dB");
    std::fs::remove_dir_all(&dir).unwrap();
}
