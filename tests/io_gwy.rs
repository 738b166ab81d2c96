//! The Gwyddion `.gwy` reader and writer: the real Asylum file through `.gwy` and back exactly,
//! the row order checked against an independent reader (Python `gwyfile`), a file written by
//! `gwyfile` shown by `afm-spark inspect` with its channels, size and units, and corrupted copies
//! (truncated at every offset, bytes flipped at many positions) that fail cleanly, naming the file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod lab_support;

use afm_drivers::{ChannelImage, Frame, Raster, ScanDirection, ScanRegion};
use afm_spark::io::{self, gwy, FileFormat, IoError};
use lab_support::{data_file, python_with, run_python, scratch};
use ndarray::Array2;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;

fn small_frame() -> Frame {
    // Every value distinct and not a round number, so a flip or transposition cannot go unseen.
    let h = Array2::from_shape_fn((48, 64), |(l, p)| 1e-9 * ((l * 64 + p) as f32).sqrt() - 3.3e-7);
    let ph = Array2::from_shape_fn((48, 64), |(l, p)| 10.0 + 0.01 * (l as f32) - 0.003 * p as f32);
    Frame {
        region: ScanRegion { center_x_m: 2e-6, center_y_m: -1e-6, width_m: 6.3e-6, height_m: 4.7e-6, angle_deg: 0.0 },
        raster: Raster::new(64, 48),
        line_rate_hz: 1.5,
        channels: vec![
            ChannelImage { name: "Height".into(), direction: ScanDirection::Trace, unit: "m".into(), data: h },
            ChannelImage { name: "Phase".into(), direction: ScanDirection::Retrace, unit: "deg".into(), data: ph },
        ],
        instrument_time_s: 32.0,
        acquired_at_unix_s: 1_750_000_000.0,
    }
}

#[test]
fn real_ibw_frame_round_trips_exactly_through_gwy() {
    let Some(path) = data_file("P0089OP0027.ibw") else { return };
    let loaded = io::load(&path).unwrap();
    let dir = scratch("io_gwy_real");
    let out = dir.join("P0089OP0027.gwy");
    let meta: Vec<(String, String)> = vec![("Source".into(), path.display().to_string())];
    gwy::write_file(&out, &loaded.frame, &meta).unwrap();
    let again = io::load(&out).unwrap();
    assert_eq!(again.format, FileFormat::Gwy);
    assert!(again.geometry_known);
    assert!(again.frame == loaded.frame, "the frame read back from .gwy differs");
    let units: Vec<_> = again.frame.channels.iter().map(|c| (c.label(), c.unit.clone())).collect();
    assert_eq!(units[3], ("PhaseRetrace".to_string(), "deg".to_string()));
    assert_eq!(units[4], ("UserIn0Retrace".to_string(), "V".to_string()));
    assert_eq!(again.metadata.get("Source"), Some(&path.display().to_string()));
}

#[test]
fn gwyfile_reads_our_rows_top_first_with_size_offsets_and_units() {
    let Some(python) = python_with("gwyfile, numpy") else { return };
    let dir = scratch("io_gwy_gwyfile");
    let frame = small_frame();
    let out = dir.join("small.gwy");
    gwy::write_file(&out, &frame, &[("Run".into(), "t1".into())]).unwrap();
    // gwyfile's data[0] is Gwyddion's top row: flipped, it must be our array exactly (float64 of
    // float32 values, so the float32 cast is exact). Save both channels as float32 .npy.
    let script = r#"
import sys, json, numpy as np, gwyfile
obj = gwyfile.load(sys.argv[1])
out = {}
for key in ('/0/data', '/1/data'):
    f = obj[key]
    np.save(sys.argv[2] + key.replace('/', '_') + '.npy', np.ascontiguousarray(f.data[::-1].astype(np.float32)))
    out[key] = dict(shape=list(f.data.shape), xreal=f.xreal, yreal=f.yreal, xoff=f.xoff, yoff=f.yoff,
                    xy=f.si_unit_xy.unitstr, z=f.si_unit_z.unitstr, title=obj[key + '/title'])
out['meta_run'] = obj['/0/meta']['Run']
print(json.dumps(out))
"#;
    let prefix = dir.join("gwyfile");
    let stdout = run_python(&python, script, &[&out, &prefix]);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for (k, ch) in frame.channels.iter().enumerate() {
        let key = format!("/{k}/data");
        let back = io::npy::read_array(&dir.join(format!("gwyfile_{k}_data.npy"))).unwrap();
        assert!(back.iter().zip(ch.data.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "{key}: values differ after flipping rows");
        let f = &v[&key];
        assert_eq!(f["shape"], serde_json::json!([48, 64]));
        let num = |name: &str| f[name].as_f64().unwrap();
        // pitch 0.1 µm: pixel areas 6.4 µm × 4.8 µm; lower-left corner half a pitch beyond the first point
        assert!((num("xreal") - 6.4e-6).abs() < 1e-15 && (num("yreal") - 4.8e-6).abs() < 1e-15, "{f}");
        assert!((num("xoff") - (2e-6 - 3.2e-6)).abs() < 1e-15 && (num("yoff") - (-1e-6 - 2.4e-6)).abs() < 1e-15, "{f}");
        assert_eq!(f["xy"], "m");
    }
    assert_eq!(v["/0/data"]["z"], "m");
    assert_eq!(v["/1/data"]["z"], "deg");
    assert_eq!((v["/0/data"]["title"].as_str(), v["/1/data"]["title"].as_str()), (Some("Height"), Some("PhaseRetrace")));
    assert_eq!(v["meta_run"], "t1");
}

#[test]
fn inspect_shows_a_file_written_by_gwyfile() {
    let Some(python) = python_with("gwyfile, numpy") else { return };
    let dir = scratch("io_gwy_inspect");
    let path = dir.join("from_gwyfile.gwy");
    // Two channels as another program would write them: top row first, sizes of the pixel areas,
    // the phase in degrees; row 0 (the top) holds a marker value.
    let script = r#"
import sys, numpy as np
from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit
h = np.fromfunction(lambda r, c: 1e-9 * (r + 0.5 * c), (32, 40))
h[0, 0] = 7.5e-9
p = np.full((32, 40), 12.25)
obj = GwyContainer()
obj['/0/data'] = GwyDataField(h, xreal=4e-6, yreal=3.2e-6, xoff=1e-6, yoff=0.0,
                              si_unit_xy=GwySIUnit(unitstr='m'), si_unit_z=GwySIUnit(unitstr='m'))
obj['/0/data/title'] = 'Height'
obj['/1/data'] = GwyDataField(p, xreal=4e-6, yreal=3.2e-6, xoff=1e-6, yoff=0.0,
                              si_unit_xy=GwySIUnit(unitstr='m'), si_unit_z=GwySIUnit(unitstr='deg'))
obj['/1/data/title'] = 'Phase'
obj.tofile(sys.argv[1])
"#;
    run_python(&python, script, &[&path]);
    let loaded = io::load(&path).unwrap();
    let f = &loaded.frame;
    assert_eq!(f.raster, Raster::new(40, 32));
    // Gwyddion's top-left value is our top line (row 31), first point.
    assert_eq!(f.channels[0].data[[31, 0]], 7.5e-9);
    assert_eq!(f.channels[0].data[[0, 2]], (1e-9f64 * (31.0 + 1.0)) as f32);
    let out = Command::new(env!("CARGO_BIN_EXE_afm-spark")).arg("inspect").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "format       Gwyddion native file (.gwy)",
        "channels     2",
        "HeightTrace            m",
        "PhaseTrace             deg  12.25 … 12.25",
        "shape        40 × 32 (points × lines)",
        "scan size    3.9 µm × 3.1 µm",
        "pixel pitch  100 nm × 100 nm",
        "centre       (3 µm, 1.6 µm)",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in\n{stdout}");
    }
}

/// Loads `bytes` written to `name`; a panic fails the test, an error is returned as text.
fn load_error(dir: &Path, name: &str, bytes: &[u8]) -> Option<String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    match catch_unwind(AssertUnwindSafe(|| io::load(&path).map(|f| f.frame.channels.len()))) {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => panic!("{name}: the reader panicked"),
    }
}

#[test]
fn truncated_copies_fail_at_every_offset_naming_the_file() {
    let bytes = gwy::encode_frame(&small_frame(), &[("Run".into(), "t1".into())]).unwrap();
    let dir = scratch("io_gwy_truncated");
    // Every cut is an error: the top-level container must end exactly at the end of the file.
    for cut in 0..bytes.len() {
        let result = catch_unwind(AssertUnwindSafe(|| gwy::from_bytes(Path::new("cut.gwy"), &bytes[..cut])));
        match result {
            Ok(Err(_)) => {}
            Ok(Ok(_)) => panic!("cut at {cut} of {} loaded", bytes.len()),
            Err(_) => panic!("cut at {cut}: the reader panicked"),
        }
    }
    // Through files: one clear line naming the file and what is wrong.
    for cut in [2, 4, 10, 30, 200, bytes.len() / 2, bytes.len() - 1] {
        let name = format!("cut{cut}.gwy");
        let err = load_error(&dir, &name, &bytes[..cut]).unwrap_or_else(|| panic!("cut at {cut} loaded"));
        assert!(err.contains(&name) && !err.contains('\n'), "{err}");
    }
    let err = load_error(&dir, "cut0.gwy", &[]).unwrap();
    assert!(err.contains("cut0.gwy") && err.contains("empty"), "{err}");
    let err = load_error(&dir, "half.gwy", &bytes[..bytes.len() / 2]).unwrap();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn flipped_bytes_never_panic_and_header_flips_fail() {
    let bytes = gwy::encode_frame(&small_frame(), &[]).unwrap();
    let dir = scratch("io_gwy_flipped");
    // Magic (4), "GwyContainer\0" (13), the container's size (4): every flip there must fail.
    let header = 4 + 13 + 4;
    let positions: Vec<usize> = (0..600).chain((600..bytes.len()).step_by(37)).chain([bytes.len() - 1]).collect();
    let mut failures = 0;
    for &pos in &positions {
        for pattern in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes.clone();
            bad[pos] ^= pattern;
            let result = catch_unwind(AssertUnwindSafe(|| gwy::from_bytes(Path::new("flip.gwy"), &bad).map(|f| f.frame.channels.len())));
            match result {
                Err(_) => panic!("flip {pattern:#04x} at byte {pos}: the reader panicked"),
                Ok(Err(e)) => {
                    failures += 1;
                    assert!(e.to_string().starts_with("flip.gwy: "), "{e}");
                }
                Ok(Ok(_)) => assert!(pos >= header, "flip {pattern:#04x} at header byte {pos} loaded"),
            }
        }
    }
    assert!(failures >= 3 * header, "only {failures} flips failed");
    let mut bad = bytes.clone();
    bad[0] = b'X';
    let err = load_error(&dir, "magic.gwy", &bad).unwrap();
    assert!(err.contains("magic.gwy") && err.contains("GWYP"), "{err}");
}

#[test]
fn gwy_files_are_detected_by_magic_and_extension() {
    let dir = scratch("io_gwy_detect");
    let bytes = gwy::encode_frame(&small_frame(), &[]).unwrap();
    let odd = dir.join("no_extension");
    std::fs::write(&odd, &bytes).unwrap();
    assert_eq!(io::detect_format(&odd).unwrap(), FileFormat::Gwy);
    let named = dir.join("garbage.gwy");
    std::fs::write(&named, b"not gwy at all").unwrap();
    assert_eq!(io::detect_format(&named).unwrap(), FileFormat::Gwy);
    match io::load(&named) {
        Err(e @ IoError::Gwy { .. }) => assert!(e.to_string().contains("garbage.gwy"), "{e}"),
        other => panic!("expected a .gwy error, got {other:?}"),
    }
}
