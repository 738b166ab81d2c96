//! Crash safety: a run killed with SIGKILL after k patches are journaled loses nothing it acquired;
//! `--resume` completes it with every pick exactly once and the first k patches byte-for-byte untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::io::session::{PatchRecord, Session};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[run]
name = "kill-test"
seed = 5
[frame]
scan_size_m = 4e-6
hr_points = 128
hr_lines = 128
hr_line_rate_hz = 20.0
[select]
grid = 8
n_select = 10
[instrument]
settle_s = 0.35
move_speed_m_per_s = 50e-6
[simulator]
realtime = true
[simulator.surface]
kind = "particles"
size_m = 4e-6
pixels = 256
"#;

fn bits(p: &PatchRecord) -> Vec<u32> {
    p.frame.channels.iter().flat_map(|c| c.data.iter().map(|v| v.to_bits())).collect()
}

fn wait_for_patches(session: &Path, k: usize, deadline: Instant) -> usize {
    while Instant::now() < deadline {
        if let Ok(n) = Session::open(session).and_then(|s| s.patches()).map(|p| p.len()) {
            if n >= k {
                return n;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    0
}

/// A run of `config` started in the background in a fresh `<target tmp>/<name>/run` folder, with the
/// extra `args` (e.g. `--acquire-only`), its config written as `<name>/run.toml`: (the test's folder
/// `<name>`, the run folder, its session path, the running process).
fn start_run(name: &str, config: &str, args: &[&str]) -> (PathBuf, PathBuf, PathBuf, Child) {
    let dir: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("run.toml");
    std::fs::write(&config_path, config).unwrap();
    let out = dir.join("run");
    let session_path = out.join("session.h5");
    let child = Command::new(env!("CARGO_BIN_EXE_afm-spark"))
        .args(["-q", "run"])
        .args(args)
        .arg("--config")
        .arg(&config_path)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (dir, out, session_path, child)
}

#[test]
fn sigkill_mid_run_then_resume_keeps_every_patch_once() {
    let (dir, out, session_path, mut child) = start_run("afm-kill", CONFIG, &["--acquire-only"]);
    let exe = env!("CARGO_BIN_EXE_afm-spark");
    let k = 3;
    let seen = wait_for_patches(&session_path, k, Instant::now() + Duration::from_secs(60));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(seen >= k, "the run never journaled {k} patches");

    let before = Session::open(&session_path).unwrap();
    let journaled = before.patches().unwrap();
    let lr_before = before.lr().unwrap().unwrap();
    let picks = before.selection().unwrap().unwrap().picks;
    assert!(journaled.len() >= k && journaled.len() < 10, "kill came too late: {} patches", journaled.len());
    assert!(!session_path.with_file_name("session.h5.tmp").exists() || Session::open(&session_path).is_ok());
    // The live view is there once patches are (refreshed after each), and is refreshed again on resume.
    let live = out.join("live.png");
    let live_before = std::fs::metadata(&live).expect("live.png after the first patches").modified().unwrap();
    assert!(std::fs::metadata(&live).unwrap().len() > 1000);
    let (w, h) = image::image_dimensions(&live).unwrap();
    assert!((w as f64) < 2.0 * h as f64, "live.png {w}×{h}: acquire-only has no model, so two panels");

    assert!(out.join("run.lock").exists(), "SIGKILL leaves the run's lock behind");
    let status =
        Command::new(exe).args(["-q", "run", "--acquire-only", "--resume"]).arg(&session_path).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "the lock of a process that no longer runs is taken over");
    assert!(!out.join("run.lock").exists(), "the resumed run removes its lock when it ends");

    assert!(std::fs::metadata(&live).unwrap().modified().unwrap() > live_before, "live.png not refreshed by the later patches");
    let after = Session::open(&session_path).unwrap();
    let all = after.patches().unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all.iter().map(|p| p.tile_index).collect::<Vec<_>>(), picks, "every pick exactly once, in order");
    for (a, b) in journaled.iter().zip(&all) {
        assert_eq!(a.pick_order, b.pick_order);
        assert_eq!(bits(a), bits(b), "patch {} changed on resume", a.pick_order);
        assert_eq!(a.frame.acquired_at_unix_s.to_bits(), b.frame.acquired_at_unix_s.to_bits());
        assert_eq!(a.frame.region, b.frame.region);
    }
    assert_eq!(after.lr().unwrap().unwrap(), lr_before);
    let metrics = std::fs::read_to_string(out.join("metrics.json")).unwrap();
    assert!(metrics.contains("\"n_patches\": 10"), "{metrics}");

    // The resumed run equals an uninterrupted one, drift included (the simulator's clock is restored).
    let straight_cfg = dir.join("straight.toml");
    std::fs::write(&straight_cfg, CONFIG.replace("realtime = true", "realtime = false")).unwrap();
    let straight_out = dir.join("straight");
    let ok = Command::new(exe)
        .args(["-q", "run", "--acquire-only", "--config"])
        .arg(&straight_cfg)
        .arg("--out")
        .arg(&straight_out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let straight = Session::open(&straight_out.join("session.h5")).unwrap().patches().unwrap();
    for (a, b) in straight.iter().zip(&all) {
        assert_eq!(bits(a), bits(b), "patch {} differs from the uninterrupted run", a.pick_order);
    }
}

#[test]
fn resume_with_a_different_config_is_refused() {
    let dir: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("afm-kill-cfg");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.toml");
    std::fs::write(&a, CONFIG.replace("realtime = true", "realtime = false")).unwrap();
    let b = dir.join("b.toml");
    std::fs::write(&b, CONFIG.replace("realtime = true", "realtime = false").replace("n_select = 10", "n_select = 9")).unwrap();
    let exe = env!("CARGO_BIN_EXE_afm-spark");
    let out = dir.join("run");
    let ok = Command::new(exe).args(["-q", "run", "--acquire-only", "--config"]).arg(&a).arg("--out").arg(&out).status().unwrap();
    assert!(ok.success());
    let res = Command::new(exe)
        .args(["-q", "run", "--acquire-only", "--config"])
        .arg(&b)
        .arg("--resume")
        .arg(out.join("session.h5"))
        .output()
        .unwrap();
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("different configuration"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    // and a second run into the same folder is refused rather than overwriting the session
    let again = Command::new(exe).args(["-q", "run", "--acquire-only", "--config"]).arg(&a).arg("--out").arg(&out).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn a_second_process_in_a_running_runs_folder_is_refused_and_the_journal_is_untouched() {
    let (dir, out, session_path, mut child) = start_run("afm-kill-busy", CONFIG, &["--acquire-only"]);
    let config = dir.join("run.toml");
    let exe = env!("CARGO_BIN_EXE_afm-spark");
    let seen = wait_for_patches(&session_path, 1, Instant::now() + Duration::from_secs(60));
    let resume = Command::new(exe).args(["-q", "run", "--acquire-only", "--resume"]).arg(&session_path).output().unwrap();
    let again = Command::new(exe).args(["-q", "run", "--acquire-only", "--config"]).arg(&config).arg("--out").arg(&out).output().unwrap();
    let journaled = Session::open(&session_path).unwrap().patches().unwrap().len();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen >= 1, "the run never journaled a patch");
    assert!(journaled < 10, "the run ended before the second process could meet it ({journaled} patches)");
    for (what, refused) in [("--resume", &resume), ("--out", &again)] {
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{what} beside a running run was not refused: {err}");
        assert!(err.contains(&format!("in use by another run (process {}", child.id())) && err.contains("run.lock"), "{what}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{what}: one clear line: {err}");
    }
    // the refused processes wrote nothing: the journal is the running run's, every patch once, in order
    let after = Session::open(&session_path).unwrap();
    let patches = after.patches().unwrap();
    let picks = after.selection().unwrap().unwrap().picks;
    assert!(patches.len() >= journaled);
    assert_eq!(patches.iter().map(|p| p.tile_index).collect::<Vec<_>>(), picks[..patches.len()].to_vec());
}

/// [`CONFIG`] with active picking and training during acquisition: small enough that the whole run
/// (final training and reconstruction included) takes seconds.
fn active_config() -> String {
    let active = CONFIG.replace("n_select = 10\n", "n_select = 10\nstrategy = \"active\"\n");
    assert_ne!(active, CONFIG, "CONFIG's [select] no longer has the line active picking extends");
    active
        + r#"
[select.active]
seed_picks = 4
steps_per_pick = 10
[train]
base = 8
t_ch = 16
max_steps = 60
batch_size = 4
crop_px = 16
n_val = 2
eval_interval_steps = 20
final_steps = 20
"#
}

#[test]
fn sigkill_mid_active_run_then_full_resume_gives_every_pick_once() {
    let (_, out, session_path, mut child) = start_run("afm-kill-active", &active_config(), &[]);
    let exe = env!("CARGO_BIN_EXE_afm-spark");
    let k = 6; // past the 4 farthest-first seeds: active picks are in the journal
    let seen = wait_for_patches(&session_path, k, Instant::now() + Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL, with the training worker mid-chunk
    child.wait().unwrap();
    assert!(seen >= k, "the run never journaled {k} patches");

    let before = Session::open(&session_path).unwrap();
    let journaled = before.patches().unwrap();
    let seeds = before.selection().unwrap().unwrap().picks;
    assert_eq!(seeds.len(), 4, "the session holds the farthest-first seeds: {seeds:?}");
    assert!(journaled.len() >= k && journaled.len() < 10, "kill came too late: {} patches", journaled.len());

    let res = Command::new(exe).args(["-q", "run", "--resume"]).arg(&session_path).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));

    let all = Session::open(&session_path).unwrap().patches().unwrap();
    let tiles: Vec<usize> = all.iter().map(|p| p.tile_index).collect();
    assert_eq!(all.len(), 10, "{tiles:?}");
    assert_eq!(&tiles[..4], &seeds[..], "the seeds first");
    let distinct: std::collections::HashSet<_> = tiles.iter().collect();
    assert_eq!(distinct.len(), 10, "every pick exactly once: {tiles:?}");
    for (a, b) in journaled.iter().zip(&all) {
        assert_eq!((a.pick_order, a.tile_index), (b.pick_order, b.tile_index), "journaled pick changed on resume");
        assert_eq!(bits(a), bits(b), "patch {} changed on resume", a.pick_order);
    }
    let metrics = std::fs::read_to_string(out.join("metrics.json")).unwrap();
    assert!(metrics.contains("\"n_patches\": 10"), "{metrics}");
    assert!(out.join("sr.npy").exists() && out.join("uncertainty.npy").exists(), "the resumed run reconstructs");
    // live.png shows the worker's reconstruction beside the LR and the patches: three square panels
    // side by side are more than twice as wide as they are high (two are about 1.6 times).
    let (w, h) = image::image_dimensions(out.join("live.png")).unwrap();
    assert!(w as f64 > 2.0 * h as f64, "live.png {w}×{h}: no reconstruction panel");
    let report: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    let reported: Vec<usize> = report["acquisition"]["picks"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(reported, tiles, "metrics.json lists the picks as scanned");
}
