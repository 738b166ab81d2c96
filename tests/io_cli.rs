//! `afm-spark inspect` end to end: the report on both real files, and one clear error line with a
//! non-zero exit status on broken ones.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} not found (the shared test data folder is absent)", path.display());
        None
    }
}

fn inspect(path: &Path) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_afm-spark")).arg("inspect").arg(path).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run afm-spark: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn inspect_reports_the_real_ibw() {
    let Some(path) = data_file("P0089OP0027.ibw") else { return };
    let out = inspect(&path);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for expected in [
        "channels     5",
        "HeightRetrace",
        "UserIn0Retrace         V",
        "PhaseRetrace           deg",
        "shape        256 × 256 (points × lines)",
        "scan size    2 µm × 2 µm",
        "pixel pitch  7.8431 nm × 7.8431 nm",
        "scan rate    1.0016 Hz",
        "IntegralGain             30",
        "ImagingMode              PFM Mode",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in\n{stdout}");
    }
}

#[test]
fn inspect_reports_the_real_h5() {
    let Some(path) = data_file("PTO_Funakubo0001.h5") else { return };
    let out = inspect(&path);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for expected in [
        "format       pyNSID HDF5",
        "channels     4",
        "AmplitudeRetrace",
        "shape        256 × 256 (points × lines)",
        "scan size    1 µm × 1 µm",
        "pixel pitch  3.9216 nm × 3.9216 nm",
        "centre       (3.3685 µm, 248.64 nm)",
        "scan rate    3.0048 Hz",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in\n{stdout}");
    }
}

#[test]
fn bad_files_exit_non_zero_with_one_clear_line() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("io_cli_empty.npy".into(), Vec::new()),
        ("io_cli_garbage.h5".into(), vec![0x42; 2048]),
        ("io_cli_text.dat".into(), b"just some text".to_vec()),
        ("io_cli_bad_magic.ibw".into(), vec![9, 9, 9, 9, 9, 9]),
    ];
    if let Some(real) = data_file("P0089OP0027.ibw") {
        let bytes = std::fs::read(real).unwrap_or_default();
        cases.push(("io_cli_truncated.ibw".into(), bytes[..bytes.len().min(5000)].to_vec()));
        let mut flipped = bytes.clone();
        if let Some(b) = flipped.get_mut(100) {
            *b ^= 0xFF;
        }
        cases.push(("io_cli_flipped_header.ibw".into(), flipped));
    }
    for (name, bytes) in cases {
        let path = dir.join(&name);
        if let Err(e) = std::fs::write(&path, &bytes) {
            panic!("cannot write {name}: {e}");
        }
        let out = inspect(&path);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: status {:?}, stderr {stderr}", out.status);
        assert!(out.stdout.is_empty(), "{name}: printed a report");
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(&name), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let _ = std::fs::remove_file(path);
    }
    let missing = inspect(&dir.join("io_cli_does_not_exist.ibw"));
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("io_cli_does_not_exist.ibw"));
}
