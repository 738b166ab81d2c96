//! The Igor binary wave reader on the real Asylum Cypher file `../shared/data/P0089OP0027.ibw`:
//! shape, labels, geometry, pixel values cross-checked against raw bytes, orientation, the note, a
//! write → read round trip, and corrupted copies (truncated, bytes flipped) that must fail cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_drivers::ibw::{self, IbwError, WriteOptions};
use afm_drivers::{Raster, ScanDirection};
use afm_spark::io::{self, FileFormat, IoError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const FILE: &str = "P0089OP0027.ibw";
/// Where the data section starts: BinHeader5 (64) + WaveHeader5 (320).
const DATA_START: usize = 384;
const P: usize = 256;
const L: usize = 256;
const C: usize = 5;

/// The test data file, or `None` (with a message) when `../shared/data` is absent.
fn data_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} not found (the shared test data folder is absent)", path.display());
        None
    }
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn read_bytes(path: &Path) -> Vec<u8> {
    ok(std::fs::read(path))
}

/// The float32 at element (p, l, c), read straight from the file bytes.
fn raw_value(bytes: &[u8], p: usize, l: usize, c: usize) -> f32 {
    let at = DATA_START + 4 * (p + l * P + c * P * L);
    f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// End of the declared sections: data, note (BinHeader5.noteSize at byte 12), dimension labels
/// (dimLabelsSize[2] at byte 44). Asylum's trailer follows.
fn declared_end(bytes: &[u8]) -> usize {
    let i32_at = |o: usize| i32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize;
    64 + i32_at(4) + i32_at(12) + i32_at(44)
}

#[test]
fn real_file_has_five_256x256_channels_of_a_2_um_scan() {
    let Some(path) = data_file(FILE) else { return };
    let wave = ok(ibw::parse(&read_bytes(&path)));
    assert_eq!((wave.version, wave.dims.as_slice()), (5, &[P, L, C][..]));
    assert_eq!(wave.name, "P0089OP0027");
    assert_eq!(wave.channel_labels(), ["HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace", "PhaseRetrace", "UserIn0Retrace"]);
    assert_eq!(wave.note.number("ScanSize"), Some(2e-6));
    // FastScanSize = ScanSize · FastRatio and SlowScanSize = ScanSize · SlowRatio in Asylum's note.
    let n = |k| wave.note.number(k).unwrap_or(f64::NAN);
    assert_eq!(n("FastScanSize"), n("ScanSize") * n("FastRatio"));
    assert_eq!(n("SlowScanSize"), n("ScanSize") * n("SlowRatio"));

    let loaded = ok(io::load(&path));
    assert_eq!(loaded.format, FileFormat::Ibw);
    assert!(loaded.geometry_known);
    let f = &loaded.frame;
    assert_eq!(f.raster, Raster::new(P, L));
    assert_eq!((f.region.width_m, f.region.height_m), (2e-6, 2e-6));
    assert_eq!((f.region.center_x_m, f.region.center_y_m, f.region.angle_deg), (0.0, 0.0, 0.0));
    assert_eq!(f.line_rate_hz, 1.0016);
    // Pixel pitch = ScanSize / (N − 1), the same as the wave's own x/y scaling.
    let (px, py) = f.region.pitch_m(&f.raster);
    assert_eq!((px, py), (2e-6 / 255.0, 2e-6 / 255.0));
    assert!((px - wave.scales[0].delta).abs() < 1e-20 && (py - wave.scales[1].delta).abs() < 1e-20);
    let names: Vec<_> = f.channels.iter().map(|c| (c.name.as_str(), c.direction, c.unit.as_str())).collect();
    assert_eq!(
        names,
        [
            ("Height", ScanDirection::Retrace, "m"),
            ("Amplitude", ScanDirection::Retrace, "m"),
            ("Deflection", ScanDirection::Retrace, "m"),
            ("Phase", ScanDirection::Retrace, "deg"),
            ("UserIn0", ScanDirection::Retrace, "V"),
        ]
    );
    // Modification date 3689176159 s after 1904 = 2020-11-25, the note's Date.
    assert_eq!(f.acquired_at_unix_s, 3_689_176_159.0 - 2_082_844_800.0);
    assert_eq!(loaded.metadata.get("Date").map(String::as_str), Some("2020-11-25"));
}

#[test]
fn pixel_values_match_the_raw_float32_at_computed_offsets() {
    let Some(path) = data_file(FILE) else { return };
    let bytes = read_bytes(&path);
    let frame = ok(io::load(&path)).frame;
    let points = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (17, 200, 0), (100, 3, 3), (255, 255, 4), (1, 0, 2), (0, 1, 2)];
    for (p, l, c) in points {
        assert_eq!(frame.channels[c].data[[l, p]], raw_value(&bytes, p, l, c), "(p {p}, l {l}, c {c})");
    }
    // Values also read independently with NumPy (np.frombuffer(..., '<f4', offset=384)).
    let h = &frame.channels[0].data;
    assert_eq!(h[[0, 0]], 6.026_027_7e-9);
    assert_eq!(h[[0, 255]], -2.202_421e-8);
    assert_eq!(h[[255, 0]], 1.788_970_4e-8);
    assert_eq!(frame.channels[3].data[[3, 100]], 46.507_958);
}

#[test]
fn fast_axis_is_points_and_row_zero_is_the_bottom_line() {
    let Some(path) = data_file(FILE) else { return };
    let bytes = read_bytes(&path);
    let loaded = ok(io::load(&path));
    let h = &loaded.frame.channels[0].data;
    // Consecutive file values run along a line (points, the fast axis), then the next line starts.
    let run: Vec<f32> = (0..3).map(|p| raw_value(&bytes, p, 7, 0)).collect();
    assert_eq!(run, vec![h[[7, 0]], h[[7, 1]], h[[7, 2]]]);
    assert_eq!(raw_value(&bytes, 0, 8, 0), h[[8, 0]]);
    assert_eq!(raw_value(&bytes, 255, 7, 0), h[[7, 255]]);
    // Asylum numbers the bottom line 0 and the top line 255; row 0 of the frame is the bottom line,
    // at the smallest y of the region.
    assert_eq!(loaded.metadata.get("BottomLine").map(String::as_str), Some("0"));
    assert_eq!(loaded.metadata.get("TopLine").map(String::as_str), Some("255"));
    let f = &loaded.frame;
    let (_, y_row0) = f.region.pixel_position_m(&f.raster, 0.0, 0.0);
    let (_, y_row255) = f.region.pixel_position_m(&f.raster, 0.0, 255.0);
    assert_eq!((y_row0, y_row255), (-1e-6, 1e-6));
}

#[test]
fn note_entries_keep_raw_text_numbers_and_the_line_of_a_change() {
    let Some(path) = data_file(FILE) else { return };
    let wave = ok(ibw::parse(&read_bytes(&path)));
    let note = &wave.note;
    assert_eq!(note.raw().chars().count(), 21328, "one character per note byte (Latin-1)");
    assert_eq!(note.raw().matches('\r').count(), 650);
    assert!(note.entries().len() > 600);
    assert_eq!(note.number("ScanRate"), Some(1.0016));
    assert_eq!(note.number("IntegralGain"), Some(30.0));
    assert_eq!(note.get("ImagingMode").map(|v| v.text.as_str()), Some("PFM Mode"));
    assert_eq!(note.get("Time").map(|v| v.text.as_str()), Some("7:09:19 PM"));
    // The key repeats; the last value wins.
    assert_eq!(note.get("Channel1DataType").map(|v| v.text.as_str()), Some("Height"));
    // Latin-1 bytes (0xB0) decode to "°".
    assert_eq!(note.get("UserCalcUnit").map(|v| v.text.as_str()), Some("°"));
    // This file has no value changed mid-scan; a frame written with one keeps value and line.
    assert!(note.entries().iter().all(|e| e.value.changed_at_line.is_none()));
    let frame = ok(wave.to_frame());
    let options = WriteOptions { extra_note: vec![("IntegralGain".into(), "30@Line: 124".into())], ..Default::default() };
    let again = ok(ibw::parse(&ok(ibw::write_v5(&frame, &options))));
    let gain = again.note.get("IntegralGain").cloned();
    assert_eq!(gain.as_ref().and_then(|v| v.number), Some(30.0));
    assert_eq!(gain.and_then(|v| v.changed_at_line), Some(124));
}

#[test]
fn real_frame_round_trips_exactly_through_write_v5() {
    let Some(path) = data_file(FILE) else { return };
    let frame = ok(io::load(&path)).frame;
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("io_ibw_round_trip.ibw");
    let options = WriteOptions { wave_name: "P0089OP0027".into(), ..Default::default() };
    ok(io::ibw::write_file(&out, &frame, &options));
    let again = ok(io::load(&out));
    assert!(again.frame == frame, "the frame read back differs");
    assert!(again.geometry_known);
    // Same size as Asylum's file up to the labels: header, data, a (shorter) note, 6 label slots.
    let bytes = read_bytes(&out);
    assert_eq!(raw_value(&bytes, 17, 200, 0), frame.channels[0].data[[200, 17]]);
    let _ = std::fs::remove_file(out);
}

#[test]
fn trailing_bytes_after_the_declared_sections_are_ignored() {
    let Some(path) = data_file(FILE) else { return };
    let bytes = read_bytes(&path);
    let end = declared_end(&bytes);
    assert_eq!(bytes.len() - end, 82_280, "Asylum's trailer");
    let (whole, cut) = (ok(ibw::parse(&bytes)), ok(ibw::parse(&bytes[..end])));
    assert!(whole.data == cut.data && whole.labels == cut.labels, "data or labels differ");
    assert_eq!(whole.note.raw(), cut.note.raw());
    assert!(ok(whole.to_frame()) == ok(cut.to_frame()), "frames differ");
}

/// Parses and converts `bytes`; panics are caught and reported as such.
fn parse_without_panic(bytes: &[u8], what: &str) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| ibw::parse(bytes).and_then(|w| w.to_frame()))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => panic!("{what}: the reader panicked"),
    }
}

#[test]
fn truncated_copies_fail_without_panicking() {
    let Some(path) = data_file(FILE) else { return };
    let bytes = read_bytes(&path);
    let end = declared_end(&bytes);
    let cuts = (0..512).chain((512..bytes.len()).step_by(97)).chain([end - 1, end, end + 1]);
    let mut failures = 0;
    for cut in cuts {
        let result = parse_without_panic(&bytes[..cut], &format!("cut at {cut}"));
        if cut < end {
            assert!(result.is_err(), "truncated at {cut} (declared end {end}) parsed");
            failures += 1;
        } else {
            assert_eq!(result, Ok(()), "cut at {cut} is past the declared sections");
        }
    }
    assert!(failures > 13_000);
    // The same through a file: one clear error naming the file.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("io_ibw_truncated.ibw");
    ok(std::fs::write(&out, &bytes[..DATA_START + 1000]));
    match io::load(&out) {
        Err(e @ IoError::Ibw { cause: IbwError::Truncated { .. }, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("io_ibw_truncated.ibw") && msg.contains("wave data"), "{msg}");
        }
        other => panic!("expected a truncation error, got {other:?}"),
    }
    let _ = std::fs::remove_file(out);
}

#[test]
fn flipped_bytes_fail_in_the_header_and_never_panic() {
    let Some(path) = data_file(FILE) else { return };
    let bytes = read_bytes(&path);
    let data_end = DATA_START + 4 * P * L * C;
    // Every 97th byte outside the image data; every 9700th inside it (a flipped data value is still
    // a valid file).
    let positions = (0..DATA_START)
        .step_by(97)
        .chain((DATA_START..data_end).step_by(9_700))
        .chain((data_end..bytes.len()).step_by(97))
        .chain([0, 1, 2, 3, 4, 12, 44, 64 + 12, 64 + 16, 64 + 68, 64 + 76]);
    let mut header_errors = 0;
    for pos in positions {
        for pattern in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes.clone();
            bad[pos] ^= pattern;
            let result = parse_without_panic(&bad, &format!("flip {pattern:#04x} at byte {pos}"));
            if pos < DATA_START {
                assert!(result.is_err(), "flip {pattern:#04x} at header byte {pos} parsed");
                header_errors += 1;
            }
        }
    }
    assert!(header_errors >= 3 * 4);
}

#[test]
fn garbage_and_wrong_magic_are_typed_errors() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cases: [(&str, &[u8]); 4] = [
        ("io_ibw_empty.ibw", b""),
        ("io_ibw_text.ibw", b"Hello, this is not an Igor wave at all"),
        ("io_ibw_v4.ibw", &[4, 0, 1, 2, 3, 4, 5, 6, 7, 8]),
        ("io_ibw_v5_short.ibw", &[5, 0, 0, 0]),
    ];
    for (name, content) in cases {
        let path = dir.join(name);
        ok(std::fs::write(&path, content));
        let err = match io::load(&path) {
            Ok(_) => panic!("{name} loaded"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(name), "{err}");
        let _ = std::fs::remove_file(path);
    }
}
