//! `afm-spark inspect session.h5`: a run's session file is recognised and summarised — config hash,
//! LR frame, picks, patches journaled of those planned, reconstruction and metrics when stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use afm_drivers::{ChannelImage, Frame, PixelRect, Raster, ScanDirection, ScanRegion};
use afm_spark::config::RunSpec;
use afm_spark::io::session::{PatchRecord, SelectionRecord, Session};
use ndarray::Array2;
use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"
[run]
name = "inspect-test"
[frame]
scan_size_m = 4e-6
hr_points = 128
hr_lines = 128
hr_line_rate_hz = 2.0
[select]
n_select = 4
"#;

fn frame(n: usize, size_m: f64) -> Frame {
    Frame {
        region: ScanRegion::square(0.0, 0.0, size_m),
        raster: Raster::square(n),
        line_rate_hz: 8.0,
        channels: vec![ChannelImage {
            name: "Height".into(),
            direction: ScanDirection::Trace,
            unit: "m".into(),
            data: Array2::from_shape_fn((n, n), |(r, c)| (r + c) as f32 * 1e-10),
        }],
        instrument_time_s: 4.0,
        acquired_at_unix_s: 0.0,
    }
}

fn inspect(path: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_afm-spark")).arg("inspect").arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn inspect_summarises_a_session_file() {
    let dir = std::env::temp_dir().join(format!("afm-offline-inspect-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = RunSpec::from_toml(CONFIG, Path::new("inline.toml")).unwrap();
    let path = dir.join("session.h5");
    let session = Session::create(&path, &spec.to_toml().unwrap(), &spec.hash()).unwrap();
    let report = inspect(&path);
    assert!(report.contains(&format!("config       run \"inspect-test\", hash {}", spec.hash())), "{report}");
    assert!(report.contains("LR frame     not acquired yet"), "{report}");
    assert!(report.contains("patches      0 of 4 journaled"), "{report}");

    session.write_lr(&frame(32, 4e-6), &[]).unwrap();
    let indicators = Array2::<f64>::zeros((64, 5));
    session.write_selection(&SelectionRecord { indicators, eligible: vec![true; 64], picks: vec![5, 9, 2, 30] }).unwrap();
    for (k, tile) in [5usize, 9].into_iter().enumerate() {
        let rect = PixelRect { col: (tile % 8) * 16, row: (tile / 8) * 16, cols: 16, rows: 16 };
        session.append_patch(&PatchRecord { pick_order: k, tile_index: tile, rect, frame: frame(16, 0.5e-6), readings: vec![] }).unwrap();
    }
    let report = inspect(&path);
    assert!(report.contains("format       afm-spark session"), "{report}");
    assert!(report.contains("LR frame     32 × 32 (points × lines), 4 µm × 4 µm, 8 Hz"), "{report}");
    assert!(report.contains("picks        4 tiles on a 8×8 grid, scan order: 5, 9, 2, 30"), "{report}");
    assert!(report.contains("patches      2 of 4 journaled (incomplete"), "{report}");
    assert!(report.contains("reconstruction  none stored") && report.contains("metrics      none stored"), "{report}");

    let sr = Array2::<f32>::zeros((128, 128));
    session.write_arrays(&[("sr", &sr, "m"), ("bicubic", &sr, "m")]).unwrap();
    let metrics = r#"{"psnr": {"sr": {"whole": 30.0, "unacquired": 25.5}, "bicubic": {"whole": 28.0, "unacquired": 24.25}},
        "ssim": {"sr": {"whole": 0.9, "unacquired": 0.875}, "bicubic": {"whole": 0.8, "unacquired": 0.75}},
        "acquisition": {"fraction": 0.37}, "device": "cpu", "stage": "reconstructed"}"#;
    session.write_metrics(metrics).unwrap();
    let report = inspect(&path);
    assert!(report.contains("reconstruction  sr (128×128), bicubic (128×128)"), "{report}");
    assert!(report.contains("metrics      stored (reconstructed, device cpu)"), "{report}");
    assert!(report.contains("acquisition time   37.0 % of a full HR frame"), "{report}");
    assert!(report.contains("SR                 PSNR 25.50 dB, SSIM 0.8750 (unacquired region)"), "{report}");
    assert!(report.contains("bicubic            PSNR 24.25 dB, SSIM 0.7500"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
