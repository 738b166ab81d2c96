//! The pyNSID HDF5 reader and writer on the real DTMicroscope file `../shared/data/PTO_Funakubo0001.h5`:
//! channels, scales, metadata, orientation; read → write → read identical; our own frames in the
//! same layout; and broken files (truncated, garbage, empty, no image, NaN, wrong shapes).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_drivers::{ChannelImage, Frame, Raster, ScanDirection, ScanRegion};
use afm_spark::io::nsid::{self, AttrValue, ChannelSelector};
use afm_spark::io::{self, FileFormat, IoError};
use ndarray::Array2;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const FILE: &str = "PTO_Funakubo0001.h5";

fn data_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} not found (the shared test data folder is absent)", path.display());
        None
    }
}

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn real_file_channels_scales_and_metadata() {
    let Some(path) = data_file(FILE) else { return };
    let channels = ok(nsid::read_channels(&path));
    let quantities: Vec<_> = channels.iter().map(|c| c.quantity.as_str()).collect();
    assert_eq!(quantities, ["HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace", "PhaseRetrace"]);
    let units: Vec<_> = channels.iter().map(|c| c.units.as_str()).collect();
    assert_eq!(units, ["m", "m", "m", "deg"]);
    let h = &channels[0];
    assert_eq!(h.data.dim(), (256, 256));
    assert_eq!((h.x.name.as_str(), h.y.name.as_str()), ("x", "y"));
    assert_eq!((h.x.values[0], h.x.values[255], h.x.values.len()), (0.0, 1e-6, 256));
    assert_eq!(h.y.values[1], 1e-6 / 255.0);
    assert_eq!(h.x.attrs.get("units"), Some(&AttrValue::Str("m".into())));
    assert_eq!(h.attrs.get("data_type"), Some(&AttrValue::Str("IMAGE".into())));
    assert_eq!(h.group_attrs.get("pyNSID_version"), Some(&AttrValue::Str("0.0.7.2".into())));
    let meta = &h.original_metadata;
    assert_eq!(meta.len(), 838);
    assert_eq!(meta.get("ScanSize"), Some(&AttrValue::Float(1e-6)));
    assert_eq!(meta.get("ScanPoints"), Some(&AttrValue::Int(256)));
    assert_eq!(meta.get("ScanRate"), Some(&AttrValue::Float(3.0048)));
    assert_eq!(meta.get("Date"), Some(&AttrValue::Str("2017-05-26".into())));
    assert_eq!(meta.get("EndHeaterTemp"), Some(&AttrValue::Str("NaN °C".into())));
    assert_eq!(meta.get("XPgain"), Some(&AttrValue::Float(f64::NEG_INFINITY)));

    assert_eq!(ok(nsid::read_channel(&path, ChannelSelector::Quantity("PhaseRetrace"))), channels[3]);
    assert_eq!(ok(nsid::read_channel(&path, ChannelSelector::Index(1))), channels[1]);
    for missing in [ChannelSelector::Index(4), ChannelSelector::Quantity("ZSensorRetrace")] {
        match nsid::read_channel(&path, missing) {
            Err(IoError::NoSuchChannel { available, .. }) => assert_eq!(available.len(), 4),
            other => panic!("{missing:?}: {:?}", other.map(|c| c.quantity)),
        }
    }
}

#[test]
fn axis_0_is_x_and_maps_to_points() {
    let Some(path) = data_file(FILE) else { return };
    // The dataset read directly: [x, y].
    let file = ok(hdf5::File::open(&path));
    let raw = ok(ok(file.dataset("/Measurement_000/Channel_0/Channel_0/Channel_0")).read_2d::<f32>());
    let h = ok(nsid::read_channel(&path, ChannelSelector::Index(0))).data;
    for (x, y) in [(0, 0), (255, 0), (0, 255), (17, 200), (200, 17)] {
        assert_eq!(h[[y, x]], raw[[x, y]], "x {x}, y {y}");
    }
    // Values read independently with h5py: dset[x, y].
    assert_eq!(h[[0, 255]], -5.726_737_4e-7);
    assert_eq!(h[[255, 0]], -6.079_148e-7);
    assert_eq!(h[[200, 17]], -5.916_236_3e-7);
}

#[test]
fn loads_as_a_frame_with_asylum_geometry() {
    let Some(path) = data_file(FILE) else { return };
    let loaded = ok(io::load(&path));
    assert_eq!(loaded.format, FileFormat::Nsid);
    assert!(loaded.geometry_known);
    let f = &loaded.frame;
    assert_eq!(f.raster, Raster::new(256, 256));
    assert_eq!(f.channels.len(), 4);
    assert_eq!((f.channels[0].name.as_str(), f.channels[0].direction), ("Height", ScanDirection::Retrace));
    assert_eq!((f.region.width_m, f.region.height_m), (1e-6, 1e-6));
    assert_eq!((f.region.center_x_m, f.region.center_y_m), (3.3685e-6, 2.4864e-7));
    assert_eq!(f.region.pitch_m(&f.raster), (1e-6 / 255.0, 1e-6 / 255.0));
    assert_eq!(f.line_rate_hz, 3.0048);
    assert_eq!(loaded.metadata.get("ImagingMode").map(String::as_str), Some("PFM Mode"));
    assert_eq!(ok(loaded.channel(None)).label(), "HeightRetrace");
    assert_eq!(ok(loaded.channel(Some("Phase"))).label(), "PhaseRetrace");
    assert_eq!(ok(loaded.channel(Some("DeflectionRetrace"))).unit, "m");
}

#[test]
fn real_file_read_write_read_is_identical() {
    let Some(path) = data_file(FILE) else { return };
    let channels = ok(nsid::read_channels(&path));
    let out = tmp("io_nsid_round_trip.h5");
    ok(nsid::write_channels(&out, &channels));
    let again = ok(nsid::read_channels(&out));
    assert_eq!(again.len(), channels.len());
    for (a, b) in channels.iter().zip(&again) {
        assert_eq!(a.quantity, b.quantity);
        assert!(a.data == b.data, "{}: data differ", a.quantity);
        assert_eq!((&a.x, &a.y), (&b.x, &b.y), "{}: scales differ", a.quantity);
        assert_eq!(a.attrs, b.attrs, "{}: dataset attributes differ", a.quantity);
        assert_eq!(a.group_attrs, b.group_attrs);
        // original_metadata holds NaN values; compare the bit patterns, type by type.
        assert_eq!(a.original_metadata.len(), b.original_metadata.len());
        for (k, va) in &a.original_metadata {
            let same = match (va, b.original_metadata.get(k)) {
                (AttrValue::Float(x), Some(AttrValue::Float(y))) => x.to_bits() == y.to_bits(),
                (x, y) => Some(x) == y,
            };
            assert!(same, "{}: original_metadata {k}: {va:?} vs {:?}", a.quantity, b.original_metadata.get(k));
        }
    }
    // The written file holds the pyNSID structure: labels and attached scales.
    let file = ok(hdf5::File::open(&out));
    let ds = ok(file.dataset("/Measurement_000/Channel_2/Channel_2/Channel_2"));
    let labels = ok(ok(ds.attr("DIMENSION_LABELS")).read_raw::<hdf5::types::VarLenAscii>());
    assert_eq!(labels.iter().map(|l| l.as_str()).collect::<Vec<_>>(), ["x", "y"]);
    assert!(ds.attr("DIMENSION_LIST").is_ok());
    let x = ok(file.dataset("/Measurement_000/Channel_2/Channel_2/x"));
    assert_eq!(ok(ok(x.attr("CLASS")).read_scalar::<hdf5::types::FixedAscii<16>>()).as_str(), "DIMENSION_SCALE");
    let _ = std::fs::remove_file(out);
}

fn small_frame() -> Frame {
    let (points, lines) = (6, 4);
    let img = |k: f32| Array2::from_shape_fn((lines, points), |(l, p)| k * (l as f32 * 10.0 + p as f32) * 1e-9);
    Frame {
        region: ScanRegion { center_x_m: 1e-6, center_y_m: -2e-6, width_m: 5e-7, height_m: 3e-7, angle_deg: 0.0 },
        raster: Raster::new(points, lines),
        line_rate_hz: 2.5,
        channels: vec![
            ChannelImage { name: "Height".into(), direction: ScanDirection::Trace, unit: "m".into(), data: img(1.0) },
            ChannelImage { name: "Height".into(), direction: ScanDirection::Retrace, unit: "m".into(), data: img(-1.0) },
        ],
        instrument_time_s: 1.75,
        acquired_at_unix_s: 1.7e9,
    }
}

#[test]
fn our_frames_round_trip_and_extra_channels_append() {
    let frame = small_frame();
    let out = tmp("io_nsid_frame.h5");
    let meta = BTreeMap::from([("Setpoint".to_string(), "0.8".to_string()), ("Operator".to_string(), "sim".to_string())]);
    ok(nsid::write_frame(&out, &frame, &meta));
    let loaded = ok(io::load(&out));
    assert!(loaded.frame == frame, "frame differs: {:?} vs {:?}", loaded.frame.region, frame.region);
    assert!(loaded.geometry_known);
    assert_eq!(loaded.metadata.get("Setpoint").map(String::as_str), Some("0.8"));
    assert_eq!(loaded.metadata.get("Operator").map(String::as_str), Some("sim"));
    // Scales in metres from 0 at the frame's pitch, along [x = points, y = lines].
    let ch = ok(nsid::read_channel(&out, ChannelSelector::Index(0)));
    assert_eq!(ch.x.values.len(), 6);
    assert_eq!(ch.x.values[5], 5.0 * (5e-7 / 5.0));
    assert_eq!(ch.y.values[3], 3.0 * (3e-7 / 3.0));
    let file = ok(hdf5::File::open(&out));
    let raw = ok(ok(file.dataset("/Measurement_000/Channel_1/Channel_1/Channel_1")).read_2d::<f32>());
    assert_eq!(raw.dim(), (6, 4));
    assert_eq!(raw[[5, 2]], frame.channels[1].data[[2, 5]]);
    drop(file);

    // A ground-truth image appended beside the measured channels.
    let mut truth = nsid::channel_from_image(&frame.channels[0], &frame, &BTreeMap::new()).map_err(|e| e.to_string());
    let Ok(truth) = truth.as_mut() else { panic!("{truth:?}") };
    truth.quantity = "GroundTruth".into();
    truth.data.fill(7.0);
    let at = ok(nsid::append_channel(&out, truth));
    assert_eq!(at, "/Measurement_000/Channel_2/Channel_2/Channel_2");
    let all = ok(nsid::read_channels(&out));
    assert_eq!(all.len(), 3);
    assert_eq!((all[2].quantity.as_str(), all[2].data[[3, 5]]), ("GroundTruth", 7.0));
    let _ = std::fs::remove_file(out);
}

/// `load` on a file with these bytes, under this name: never a panic, always an error naming it.
fn load_error(name: &str, bytes: &[u8]) -> String {
    let path = tmp(name);
    ok(std::fs::write(&path, bytes));
    let result = catch_unwind(AssertUnwindSafe(|| io::load(&path).map(|f| f.frame.channels.len())));
    let _ = std::fs::remove_file(&path);
    match result {
        Err(_) => panic!("{name}: the reader panicked"),
        Ok(Ok(n)) => panic!("{name}: loaded {n} channels"),
        Ok(Err(e)) => {
            let msg = e.to_string();
            assert!(msg.contains(name), "error does not name the file: {msg}");
            msg
        }
    }
}

#[test]
fn truncated_garbage_and_empty_files_fail_cleanly() {
    let Some(path) = data_file(FILE) else { return };
    let bytes = ok(std::fs::read(&path));
    for cut in [0, 1, 7, 8, 100, 512, 2048, 4096, 50_000, 300_000, 700_000, bytes.len() / 2, bytes.len() - 1000, bytes.len() - 1] {
        let msg = load_error("io_nsid_truncated.h5", &bytes[..cut]);
        if cut == 0 {
            assert!(msg.contains("empty"), "{msg}");
        }
    }
    load_error("io_nsid_garbage.h5", &[0x42; 4096]);
    let mut wrong_magic = bytes.clone();
    wrong_magic[1] = b'X';
    load_error("io_nsid_wrong_magic.h5", &wrong_magic);
}

#[test]
fn flipped_bytes_never_panic() {
    let Some(path) = data_file(FILE) else { return };
    let bytes = ok(std::fs::read(&path));
    let file = tmp("io_nsid_flipped.h5");
    let (mut errors, mut loads) = (0, 0);
    // Every 97th byte of the first 8 KiB (superblock, root group, B-trees), then every 4999th (object
    // headers, attribute heaps and image data are spread over the rest). HDF5 1.8-era metadata carry
    // no checksums, so most flips load (with a changed value); none may panic or crash.
    let positions = (0..8_192).step_by(97).chain((8_192..bytes.len()).step_by(4_999));
    for pos in positions {
        let mut bad = bytes.clone();
        bad[pos] ^= 0xFF;
        ok(std::fs::write(&file, &bad));
        match catch_unwind(AssertUnwindSafe(|| io::load(&file).map(|f| f.frame.channels.len()))) {
            Err(_) => panic!("flip at byte {pos}: the reader panicked"),
            Ok(Ok(_)) => loads += 1,
            Ok(Err(_)) => errors += 1,
        }
    }
    let _ = std::fs::remove_file(file);
    eprintln!("flipped copies: {errors} errors, {loads} loaded");
    assert!(errors > 0);
}

fn write_image(path: &Path, data: &ndarray::ArrayD<f32>, scale_len: usize) {
    let file = ok(hdf5::File::create(path));
    let g = ok(ok(file.create_group("Measurement_000")).create_group("Channel_0"));
    let ds = ok(g.new_dataset_builder().with_data(data).create("Channel_0"));
    let s = |v: &str| ok(v.parse::<hdf5::types::VarLenUnicode>());
    ok(ok(ds.new_attr::<hdf5::types::VarLenUnicode>().create("data_type")).write_scalar(&s("IMAGE")));
    ok(ok(ds.new_attr::<hdf5::types::VarLenUnicode>().create("quantity")).write_scalar(&s("HeightTrace")));
    let scale: Vec<f64> = (0..scale_len).map(|i| i as f64 * 1e-8).collect();
    ok(g.new_dataset_builder().with_data(&scale).create("x"));
    ok(g.new_dataset_builder().with_data(&scale).create("y"));
}

#[test]
fn wrong_shapes_missing_images_and_nan_are_reported() {
    // A 3-D "image" is not an IMAGE channel: the file has none.
    let cube = tmp("io_nsid_cube.h5");
    write_image(&cube, &ndarray::ArrayD::zeros(vec![4, 4, 2]), 4);
    match io::load(&cube) {
        Err(IoError::Nsid { what, .. }) => assert!(what.contains("IMAGE"), "{what}"),
        other => panic!("3-D: {other:?}"),
    }
    // Scales that do not match the image.
    let short = tmp("io_nsid_short_scale.h5");
    write_image(&short, &ndarray::ArrayD::zeros(vec![5, 5]), 4);
    match io::load(&short) {
        Err(e @ IoError::Shape { .. }) => assert!(e.to_string().contains("dimension scale"), "{e}"),
        other => panic!("short scale: {other:?}"),
    }
    // NaN values load but cannot be chosen for training.
    let nan = tmp("io_nsid_nan.h5");
    write_image(&nan, &ndarray::ArrayD::from_elem(vec![4, 4], f32::NAN), 4);
    let loaded = ok(io::load(&nan));
    assert!(loaded.geometry_known && (loaded.frame.region.width_m - 3e-8).abs() < 1e-20);
    match loaded.channel(None) {
        Err(IoError::NonFinite { count, line, point, .. }) => assert_eq!((count, line, point), (16, 0, 0)),
        other => panic!("NaN: {other:?}"),
    }
    // A dataset that declares 2^32 values it does not store (fill values): refused, not allocated.
    let huge = tmp("io_nsid_huge.h5");
    {
        let file = ok(hdf5::File::create(&huge));
        let g = ok(ok(file.create_group("Measurement_000")).create_group("Channel_0"));
        let ds = ok(g.new_dataset::<f32>().shape((65_536, 65_536)).chunk((256, 256)).create("Channel_0"));
        let s = ok("IMAGE".parse::<hdf5::types::VarLenUnicode>());
        ok(ok(ds.new_attr::<hdf5::types::VarLenUnicode>().create("data_type")).write_scalar(&s));
    }
    assert!(ok(std::fs::metadata(&huge)).len() < 100_000);
    match io::load(&huge) {
        Err(IoError::Shape { found, .. }) => assert_eq!(found, [65_536, 65_536]),
        other => panic!("huge: {other:?}"),
    }
    // A valid HDF5 file without any pyNSID content.
    let plain = tmp("io_nsid_plain.h5");
    drop(ok(hdf5::File::create(&plain)));
    assert!(matches!(io::load(&plain), Err(IoError::Nsid { .. })));
    for p in [cube, short, nan, plain, huge] {
        let _ = std::fs::remove_file(p);
    }
}
