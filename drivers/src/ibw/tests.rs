//! Codec tests on synthetic waves: exact write → parse round trips in both byte orders, the on-disk
//! layout, version 2, other number types, and malformed input (never a panic, always a typed error).

use super::*;
use crate::frame::{ChannelImage, Frame, ScanDirection};
use crate::geometry::{Raster, ScanRegion};
use ndarray::Array2;

fn test_frame(points: usize, lines: usize) -> Frame {
    let image = |seed: f32| Array2::from_shape_fn((lines, points), |(l, p)| seed + (l * 1000 + p) as f32 * 1e-9 - 3.25e-7);
    Frame {
        region: ScanRegion { center_x_m: -1.25e-6, center_y_m: 3.3685e-6, width_m: 2e-6, height_m: 1.0 / 3.0 * 1e-6, angle_deg: 30.5 },
        raster: Raster::new(points, lines),
        line_rate_hz: 1.0016,
        channels: vec![
            ChannelImage { name: "Height".into(), direction: ScanDirection::Retrace, unit: "m".into(), data: image(0.0) },
            ChannelImage { name: "Amplitude".into(), direction: ScanDirection::Trace, unit: "m".into(), data: image(1.0) },
            ChannelImage { name: "Phase".into(), direction: ScanDirection::Retrace, unit: "deg".into(), data: image(90.0) },
            ChannelImage { name: "UserIn0".into(), direction: ScanDirection::Retrace, unit: "V".into(), data: image(-2.0) },
        ],
        instrument_time_s: 5.0 / 1.0016 + 0.125,
        acquired_at_unix_s: 1_700_000_000.375,
    }
}

/// The value, or a test failure showing the error.
fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn write(frame: &Frame, order: ByteOrder) -> Vec<u8> {
    ok(write_v5(frame, &WriteOptions { byte_order: order, ..WriteOptions::default() }))
}

#[test]
fn v5_round_trip_is_exact_in_both_byte_orders() {
    let frame = test_frame(7, 5);
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let wave = ok(parse(&write(&frame, order)));
        assert_eq!((wave.version, wave.byte_order, wave.dims.clone()), (5, order, vec![7, 5, 4]));
        assert_eq!(ok(wave.to_frame()), frame, "{order:?}");
    }
}

#[test]
fn labels_note_and_scaling_are_what_asylum_writes() {
    let frame = test_frame(7, 5);
    let wave = ok(parse(&write(&frame, ByteOrder::Little)));
    assert_eq!(wave.channel_labels(), ["HeightRetrace", "AmplitudeTrace", "PhaseRetrace", "UserIn0Retrace"]);
    assert_eq!(wave.number_type, NumberType::F32);
    assert_eq!(wave.scales[0].delta, 2e-6 / 6.0);
    assert_eq!(wave.scales[1].delta, frame.region.height_m / 4.0);
    assert_eq!((wave.scales[0].units.as_str(), wave.scales[1].units.as_str()), ("m", "m"));
    for key in
        ["ScanSize", "FastRatio", "SlowRatio", "XOffset", "YOffset", "ScanAngle", "ScanRate", "ScanPoints", "ScanLines", "PointsLines"]
    {
        assert!(wave.note.get(key).is_some(), "note lacks {key}");
    }
    assert_eq!(wave.note.number("ScanPoints"), Some(7.0));
    assert_eq!(wave.note.number("ScanLines"), Some(5.0));
    assert_eq!(wave.note.number("ScanSize"), Some(2e-6));
    assert_eq!(wave.note.number("SlowRatio"), Some(frame.region.height_m / 2e-6));
    assert!(wave.note.raw().contains("\rScanRate: 1.0016\r"));
}

#[test]
fn data_are_column_major_points_fastest_with_row_zero_the_first_line() {
    let (p_n, l_n) = (7usize, 5usize);
    let frame = test_frame(p_n, l_n);
    let bytes = write(&frame, ByteOrder::Little);
    for (p, l, c) in [(0, 0, 0), (6, 0, 0), (0, 4, 0), (3, 2, 1), (6, 4, 3), (1, 3, 2)] {
        let at = 384 + 4 * (p + l * p_n + c * p_n * l_n);
        let raw = f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        assert_eq!(raw, frame.channels[c].data[[l, p]], "(p {p}, l {l}, c {c})");
    }
    // Row 0 (first line in the file) is the bottom of the region: its y is the smallest.
    let (_, y0) = frame.region.local_offset_m(&frame.raster, 0.0, 0.0);
    let (_, y4) = frame.region.local_offset_m(&frame.raster, 0.0, 4.0);
    assert!(y0 < y4);
}

#[test]
fn every_truncation_is_an_error_and_trailing_bytes_are_ignored() {
    let bytes = write(&test_frame(4, 3), ByteOrder::Little);
    for cut in 0..bytes.len() {
        assert!(parse(&bytes[..cut]).is_err(), "cut at {cut} parsed");
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0xAB; 777]);
    assert_eq!(parse(&longer).map(|w| w.data.len()), Ok(4 * 3 * 4));
}

#[test]
fn header_corruption_is_caught_by_the_checksum_and_no_flip_panics() {
    let bytes = write(&test_frame(4, 3), ByteOrder::Little);
    for pos in 0..bytes.len() {
        for pattern in [0x01u8, 0x80, 0xFF, 0x5A] {
            let mut bad = bytes.clone();
            bad[pos] ^= pattern;
            let result = parse(&bad);
            if (2..384).contains(&pos) {
                assert!(matches!(result, Err(IbwError::Checksum { .. })), "flip {pattern:#x} at {pos}: {result:?}");
            }
            if let Ok(wave) = result {
                let _ = wave.to_frame(); // may fail on a garbled note or label, but must not panic
            }
        }
    }
}

#[test]
fn unknown_versions_and_tiny_buffers_are_typed_errors() {
    assert!(matches!(parse(&[]), Err(IbwError::Truncated { .. })));
    assert!(matches!(parse(&[5]), Err(IbwError::Truncated { .. })));
    assert!(matches!(parse(b"\x89HDF\r\n\x1a\n"), Err(IbwError::UnknownVersion { .. })));
    assert!(matches!(parse(&[4, 0, 0, 0]), Err(IbwError::UnknownVersion { bytes: [4, 0] })));
    assert!(matches!(parse(&[5, 0, 0, 0]), Err(IbwError::Truncated { .. })));
}

/// Builds a version-5 wave from parts (little-endian), for inputs `write_v5` never produces.
fn build_v5(type_code: i16, dims: [i32; 4], data: &[u8], note: &[u8], dim_units: [&str; 2], sf_a: [f64; 2]) -> Vec<u8> {
    let npnts: i32 = dims.iter().take_while(|&&d| d > 0).product();
    let mut b = Vec::new();
    b.extend_from_slice(&5i16.to_le_bytes());
    b.extend_from_slice(&0i16.to_le_bytes());
    b.extend_from_slice(&(320 + data.len() as i32).to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&(note.len() as i32).to_le_bytes());
    b.resize(64, 0);
    let w = b.len();
    b.resize(w + 320, 0);
    b[w + 12..w + 16].copy_from_slice(&npnts.to_le_bytes());
    b[w + 16..w + 18].copy_from_slice(&type_code.to_le_bytes());
    b[w + 28..w + 33].copy_from_slice(b"plain");
    for (d, n) in dims.iter().enumerate() {
        b[w + 68 + 4 * d..w + 72 + 4 * d].copy_from_slice(&n.to_le_bytes());
    }
    for (d, a) in sf_a.iter().enumerate() {
        b[w + 84 + 8 * d..w + 92 + 8 * d].copy_from_slice(&a.to_le_bytes());
        b[w + 116 + 8 * d..w + 124 + 8 * d].copy_from_slice(&(1e-6 * d as f64).to_le_bytes());
        let u = dim_units[d].as_bytes();
        b[w + 152 + 4 * d..w + 152 + 4 * d + u.len()].copy_from_slice(u);
    }
    let sum = b.chunks_exact(2).fold(0u16, |acc, c| acc.wrapping_add(u16::from_le_bytes([c[0], c[1]])));
    b[2..4].copy_from_slice(&sum.wrapping_neg().to_le_bytes());
    b.extend_from_slice(data);
    b.extend_from_slice(note);
    b
}

#[test]
fn integer_and_double_waves_convert_to_f32() {
    let i16_data: Vec<u8> = [-3i16, 7, 300, -32768, 1, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let wave = parse(&build_v5(0x10, [3, 2, 0, 0], &i16_data, b"", ["", ""], [1.0, 1.0]));
    assert_eq!(wave.as_ref().map(|w| w.data.clone()), Ok(vec![-3.0, 7.0, 300.0, -32768.0, 1.0, 2.0]));
    assert_eq!(wave.map(|w| w.number_type), Ok(NumberType::I16));
    let u8_wave = parse(&build_v5(0x48, [2, 0, 0, 0], &[200, 7], b"", ["", ""], [1.0, 1.0]));
    assert_eq!(u8_wave.map(|w| (w.number_type, w.data)), Ok((NumberType::U8, vec![200.0, 7.0])));
    let f64_data: Vec<u8> = [0.5f64, -1e-9].iter().flat_map(|v| v.to_le_bytes()).collect();
    let f64_wave = parse(&build_v5(4, [2, 0, 0, 0], &f64_data, b"", ["", ""], [1.0, 1.0]));
    assert_eq!(f64_wave.map(|w| w.data), Ok(vec![0.5, -1e-9]));
    let complex = parse(&build_v5(3, [1, 0, 0, 0], &[0; 8], b"", ["", ""], [1.0, 1.0]));
    assert!(matches!(complex, Err(IbwError::UnsupportedType { code: 3, .. })), "{complex:?}");
    let text = parse(&build_v5(0, [1, 0, 0, 0], &[0; 4], b"", ["", ""], [1.0, 1.0]));
    assert!(matches!(text, Err(IbwError::UnsupportedType { code: 0, .. })));
}

#[test]
fn plain_waves_without_asylum_note_are_readable() {
    let data: Vec<u8> = (0..6).flat_map(|v| (v as f32).to_le_bytes()).collect();
    // No note, x/y in metres: geometry from the dimension scaling.
    let frame = ok(ok(parse(&build_v5(2, [3, 2, 0, 0], &data, b"", ["m", "m"], [1e-9, 2e-9]))).to_frame());
    assert_eq!((frame.region.width_m, frame.region.height_m), (2e-9, 2e-9));
    assert_eq!((frame.region.center_x_m, frame.region.center_y_m), (1e-9, 1e-6 + 1e-9));
    assert_eq!(frame.channels.len(), 1);
    assert_eq!(frame.channels[0].name, "plain");
    assert_eq!(frame.channels[0].data[[1, 2]], 5.0);
    assert_eq!(frame.line_rate_hz, 0.0);
    // No note, no metric scaling: the wave parses, the frame has no geometry.
    let bare = parse(&build_v5(2, [3, 2, 0, 0], &data, b"", ["", ""], [1.0, 1.0]));
    assert!(matches!(bare.as_ref().map(|w| w.to_frame()), Ok(Err(IbwError::NoGeometry { .. }))));
    assert!(matches!(bare.map(|w| w.channel_images().map(|c| c.len())), Ok(Ok(1))));
    // 1-D and 4-D waves are not images.
    let line = parse(&build_v5(2, [6, 0, 0, 0], &data, b"", ["", ""], [1.0, 1.0]));
    assert!(matches!(line.map(|w| w.to_frame()), Ok(Err(IbwError::NotAnImage { .. }))));
}

#[test]
fn inconsistent_headers_are_rejected() {
    let data = [0u8; 24];
    // npnts (product of dims = 6) fine, but dims say 4 × 2 with only 24 bytes of data declared.
    let mut bad = build_v5(2, [3, 2, 0, 0], &data, b"", ["", ""], [1.0, 1.0]);
    bad[64 + 68..64 + 72].copy_from_slice(&4i32.to_le_bytes());
    let sum = bad[..384].chunks_exact(2).fold(0u16, |a, c| a.wrapping_add(u16::from_le_bytes([c[0], c[1]])));
    let old = u16::from_le_bytes([bad[2], bad[3]]);
    bad[2..4].copy_from_slice(&old.wrapping_sub(sum).to_le_bytes());
    assert!(matches!(parse(&bad), Err(IbwError::BadField { field: "WaveHeader5.npnts", .. })), "{:?}", parse(&bad));
    // A negative note size.
    let mut neg = build_v5(2, [3, 2, 0, 0], &data, b"", ["", ""], [1.0, 1.0]);
    neg[12..16].copy_from_slice(&(-5i32).to_le_bytes());
    let sum = neg[..384].chunks_exact(2).fold(0u16, |a, c| a.wrapping_add(u16::from_le_bytes([c[0], c[1]])));
    let old = u16::from_le_bytes([neg[2], neg[3]]);
    neg[2..4].copy_from_slice(&old.wrapping_sub(sum).to_le_bytes());
    assert!(matches!(parse(&neg), Err(IbwError::BadField { field: "BinHeader5.noteSize", .. })), "{:?}", parse(&neg));
}

/// A version-2 wave as Igor's `WriteVersion2NumericWave` writes it: BinHeader2 (16 bytes),
/// WaveHeader2 up to wData (110), data, 16 bytes of padding, note; checksum over the first 142 bytes.
fn build_v2(values: &[f32], note: &[u8], big_endian: bool) -> Vec<u8> {
    let i16b = |v: i16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let i32b = |v: i32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let f64b = |v: f64| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let data: Vec<u8> = values.iter().flat_map(|v| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() }).collect();
    let mut b = Vec::new();
    b.extend_from_slice(&i16b(2));
    b.extend_from_slice(&i32b(110 + data.len() as i32 + 16));
    b.extend_from_slice(&i32b(note.len() as i32));
    b.extend_from_slice(&i32b(0));
    b.extend_from_slice(&i16b(0)); // checksum
    let w = b.len();
    b.resize(w + 110, 0);
    b[w..w + 2].copy_from_slice(&i16b(2)); // NT_FP32
    b[w + 6..w + 13].copy_from_slice(b"trace2d");
    b[w + 34..w + 35].copy_from_slice(b"V");
    b[w + 38..w + 39].copy_from_slice(b"s");
    b[w + 42..w + 46].copy_from_slice(&i32b(values.len() as i32));
    b[w + 48..w + 56].copy_from_slice(&f64b(0.001));
    b[w + 56..w + 64].copy_from_slice(&f64b(-0.5));
    b.extend_from_slice(&data);
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(note);
    let sum = b[..142].chunks_exact(2).fold(0u16, |acc, c| {
        acc.wrapping_add(if big_endian { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) })
    });
    let fix = (sum as i16).wrapping_neg();
    b[14..16].copy_from_slice(&i16b(fix));
    b
}

#[test]
fn version_2_waves_parse_in_both_byte_orders() {
    let values: Vec<f32> = (0..9).map(|i| i as f32 * 0.25 - 1.0).collect();
    for big in [false, true] {
        let bytes = build_v2(&values, b"Gain: 2\rMode:fast", big);
        let wave = ok(parse(&bytes));
        assert_eq!(wave.version, 2);
        assert_eq!(wave.byte_order, if big { ByteOrder::Big } else { ByteOrder::Little });
        assert_eq!(wave.name, "trace2d");
        assert_eq!(wave.dims, vec![9]);
        assert_eq!(wave.data, values);
        assert_eq!(wave.data_units, "V");
        assert_eq!(wave.scales, vec![DimScale { delta: 0.001, offset: -0.5, units: "s".into() }]);
        assert_eq!(wave.note.number("Gain"), Some(2.0));
        assert_eq!(wave.note.get("Mode").map(|v| v.text.as_str()), Some("fast"));
        for cut in 0..bytes.len() {
            assert!(parse(&bytes[..cut]).is_err(), "v2 cut at {cut} parsed");
        }
        let mut bad = bytes.clone();
        bad[20] ^= 0x10;
        assert!(matches!(parse(&bad), Err(IbwError::Checksum { span: 142, .. })));
    }
}

#[test]
fn writer_rejects_frames_it_cannot_store() {
    let frame = test_frame(4, 3);
    let opts = WriteOptions::default();
    let mut wrong_shape = frame.clone();
    wrong_shape.channels[1].data = Array2::zeros((4, 3));
    assert!(matches!(write_v5(&wrong_shape, &opts), Err(IbwError::InvalidFrame(_))));
    let mut empty = frame.clone();
    empty.channels.clear();
    assert!(matches!(write_v5(&empty, &opts), Err(IbwError::InvalidFrame(_))));
    let long = WriteOptions { wave_name: "x".repeat(32), ..WriteOptions::default() };
    assert!(matches!(write_v5(&frame, &long), Err(IbwError::InvalidFrame(_))));
    let mut nameless = frame.clone();
    nameless.channels[0].name = String::new();
    assert!(matches!(write_v5(&nameless, &opts), Err(IbwError::InvalidFrame(_))));
    let mut nan_rate = frame.clone();
    nan_rate.line_rate_hz = f64::NAN;
    assert!(matches!(write_v5(&nan_rate, &opts), Err(IbwError::InvalidFrame(_))));
    let bad_note = WriteOptions { extra_note: vec![("Set:point".into(), "1".into())], ..WriteOptions::default() };
    assert!(matches!(write_v5(&frame, &bad_note), Err(IbwError::InvalidFrame(_))));
}

#[test]
fn extra_note_entries_are_kept_but_cannot_override_the_scan() {
    let frame = test_frame(4, 3);
    let opts =
        WriteOptions { extra_note: vec![("Setpoint".into(), "0.8".into()), ("ScanRate".into(), "99".into())], ..WriteOptions::default() };
    let wave = ok(parse(&ok(write_v5(&frame, &opts))));
    assert_eq!(wave.note.number("Setpoint"), Some(0.8));
    assert_eq!(wave.note.number("ScanRate"), Some(1.0016));
    assert_eq!(ok(wave.to_frame()).line_rate_hz, 1.0016);
}
