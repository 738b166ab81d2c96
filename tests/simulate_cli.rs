//! `afm-spark simulate`: the configured surface scanned at several rate factors, written as pyNSID with
//! the clean ground truth first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::io::nsid;
use std::process::Command;

const CONFIG: &str = r#"
[run]
seed = 2
[frame]
scan_size_m = 4e-6
hr_points = 128
hr_lines = 128
hr_line_rate_hz = 2.0
[select]
n_select = 4
[simulator.surface]
kind = "terraces"
size_m = 4e-6
pixels = 256
step_heights_m = [2e-9]
"#;

#[test]
fn simulate_writes_ground_truth_and_one_scan_per_rate_factor() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("afm-simulate");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("s.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = dir.join("scans.h5");
    let res = Command::new(env!("CARGO_BIN_EXE_afm-spark"))
        .args(["-q", "simulate", "--rate-factors", "1,4", "--npy", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let chans = nsid::read_channels(&out).unwrap();
    assert_eq!(chans.len(), 3);
    assert_eq!(chans[0].quantity, "GroundTruthTrace");
    assert_eq!(chans[0].data.dim(), (128, 128));
    assert_eq!(chans[1].data.dim(), (128, 128));
    assert_eq!(chans[2].data.dim(), (32, 32));
    let rate = |c: &nsid::NsidChannel| c.original_metadata.get("ScanRate").map(|v| v.to_text()).unwrap_or_default();
    assert_eq!(rate(&chans[1]).parse::<f64>().unwrap(), 2.0);
    assert_eq!(rate(&chans[2]).parse::<f64>().unwrap(), 8.0);
    // the x scale is in metres at the HR pitch
    assert!((chans[1].x.values[127] - 4e-6).abs() < 1e-15);
    // real physics: the HR scan is not the clean surface (tip, feedback, noise)
    let diff = chans[0].data.iter().zip(chans[1].data.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff > 1e-11, "HR scan identical to the ground truth?");
    assert!(dir.join("scans_4x.npy").exists() && dir.join("scans_ground_truth.npy").exists());
    // refuses to overwrite
    let again = Command::new(env!("CARGO_BIN_EXE_afm-spark"))
        .args(["-q", "simulate", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
}
