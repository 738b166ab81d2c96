//! The `.npy` reader and writer: float32/float64 2-D arrays, orientation, assumed geometry, and
//! broken files (truncated, flipped bytes, lying headers, other dtypes, wrong shapes, NaN).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::io::{self, npy, FileFormat, IoError, DEFAULT_PIXEL_PITCH_M};
use ndarray::{Array2, Array3, ShapeBuilder};
use ndarray_npy::WriteNpyExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn image() -> Array2<f32> {
    Array2::from_shape_fn((5, 7), |(l, p)| (l as f32 * 100.0 + p as f32) * 1e-9 - 2e-7)
}

fn write_any<T: WriteNpyExt>(path: &Path, array: &T) {
    let mut bytes = Vec::new();
    ok(array.write_npy(&mut bytes));
    ok(std::fs::write(path, bytes));
}

#[test]
fn f32_round_trips_and_f64_converts() {
    let a = image();
    let p32 = tmp("io_npy_f32.npy");
    ok(npy::write_array(&p32, &a));
    assert_eq!(ok(npy::read_array(&p32)), a);
    let p64 = tmp("io_npy_f64.npy");
    let a64 = a.mapv(|v| f64::from(v) + 1e-12);
    write_any(&p64, &a64);
    let back = ok(npy::read_array(&p64));
    assert_eq!(back, a64.mapv(|v| v as f32));
    // Fortran-ordered data keep their logical [line, point] order.
    let pf = tmp("io_npy_fortran.npy");
    let mut f = Array2::<f32>::zeros((5, 7).f());
    f.assign(&a);
    write_any(&pf, &f);
    assert_eq!(ok(npy::read_array(&pf)), a);
    for p in [p32, p64, pf] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn frames_carry_the_given_pitch_and_load_assumes_the_default() {
    let path = tmp("io_npy_frame.npy");
    ok(npy::write_array(&path, &image()));
    let frame = ok(npy::read_frame(&path, 4e-9));
    assert_eq!((frame.raster.points, frame.raster.lines), (7, 5));
    assert_eq!(frame.region.pitch_m(&frame.raster), (4e-9, 4e-9));
    assert_eq!((frame.region.width_m, frame.region.height_m), (6.0 * 4e-9, 4.0 * 4e-9));
    // Row 0 of the array is line 0 (the bottom line), column 0 point 0: no flip.
    assert_eq!(frame.channels[0].data[[0, 6]], image()[[0, 6]]);
    assert_eq!(frame.channels[0].label(), "HeightTrace");
    let loaded = ok(io::load(&path));
    assert_eq!(loaded.format, FileFormat::Npy);
    assert!(!loaded.geometry_known);
    assert_eq!(loaded.frame.region.pitch_m(&loaded.frame.raster), (DEFAULT_PIXEL_PITCH_M, DEFAULT_PIXEL_PITCH_M));
    assert_eq!(ok(loaded.channel(None)).data, image());
    let _ = std::fs::remove_file(path);
}

fn read_error(name: &str, bytes: &[u8]) -> IoError {
    let path = tmp(name);
    ok(std::fs::write(&path, bytes));
    let result = catch_unwind(AssertUnwindSafe(|| io::load(&path).and_then(|f| f.channel(None).map(|_| ()))));
    let _ = std::fs::remove_file(&path);
    match result {
        Err(_) => panic!("{name}: the reader panicked"),
        Ok(Ok(())) => panic!("{name}: loaded"),
        Ok(Err(e)) => {
            assert!(e.to_string().contains(name), "error does not name the file: {e}");
            e
        }
    }
}

fn npy_bytes<T: WriteNpyExt>(array: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    ok(array.write_npy(&mut bytes));
    bytes
}

#[test]
fn wrong_shapes_dtypes_and_nan_are_typed_errors() {
    assert!(
        matches!(read_error("io_npy_3d.npy", &npy_bytes(&Array3::<f32>::zeros((2, 3, 4)))), IoError::Shape { found, .. } if found == [2, 3, 4])
    );
    assert!(matches!(read_error("io_npy_1d.npy", &npy_bytes(&ndarray::Array1::<f32>::zeros(9))), IoError::Shape { .. }));
    assert!(matches!(read_error("io_npy_empty_array.npy", &npy_bytes(&Array2::<f32>::zeros((0, 4)))), IoError::Shape { .. }));
    let ints = read_error("io_npy_int.npy", &npy_bytes(&Array2::<i32>::zeros((3, 3))));
    assert!(ints.to_string().contains("<i4"), "{ints}");
    let nan = read_error("io_npy_nan.npy", &npy_bytes(&Array2::<f32>::from_elem((3, 4), f32::NAN)));
    assert!(matches!(nan, IoError::NonFinite { count: 12, line: 0, point: 0, .. }), "{nan}");
    let mut one_inf = image();
    one_inf[[2, 3]] = f32::INFINITY;
    let inf = read_error("io_npy_inf.npy", &npy_bytes(&one_inf));
    assert!(matches!(inf, IoError::NonFinite { count: 1, line: 2, point: 3, .. }), "{inf}");
    assert!(matches!(read_error("io_npy_zero.npy", b""), IoError::Empty { .. }));
    assert!(matches!(read_error("io_npy_garbage.npy", &[0x37; 300]), IoError::Npy { .. }));
    // Big-endian data are refused with a clear message.
    let mut be = npy_bytes(&image());
    let at = be.windows(4).position(|w| w == b"<f4'").unwrap_or(0);
    be[at] = b'>';
    let be_err = read_error("io_npy_big_endian.npy", &be);
    assert!(be_err.to_string().contains("byte order"), "{be_err}");
}

#[test]
fn a_header_claiming_a_huge_array_fails_without_allocating_it() {
    // A valid version-1.0 header for 10^10 float32 values (40 GB), followed by 140 bytes of data:
    // reading must stop at the length check instead of trying to allocate the array.
    let mut dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }".to_string();
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend_from_slice(&[0u8; 140]);
    let e = read_error("io_npy_huge.npy", &bytes);
    assert!(matches!(e, IoError::Npy { .. }) && e.to_string().contains("data bytes missing"), "{e}");
}

#[test]
fn truncated_and_flipped_files_never_panic() {
    let bytes = npy_bytes(&image());
    let path = tmp("io_npy_corrupt.npy");
    for cut in 0..bytes.len() {
        ok(std::fs::write(&path, &bytes[..cut]));
        match catch_unwind(AssertUnwindSafe(|| npy::read_array(&path))) {
            Err(_) => panic!("cut at {cut}: panicked"),
            Ok(r) => assert!(r.is_err(), "cut at {cut} read"),
        }
    }
    let header_len = bytes.len() - 4 * 35;
    let mut header_errors = 0;
    for pos in 0..bytes.len() {
        for pattern in [0x01u8, 0x20, 0x80, 0xFF] {
            let mut bad = bytes.clone();
            bad[pos] ^= pattern;
            ok(std::fs::write(&path, &bad));
            match catch_unwind(AssertUnwindSafe(|| npy::read_array(&path))) {
                Err(_) => panic!("flip {pattern:#04x} at {pos}: panicked"),
                Ok(Err(_)) if pos < header_len => header_errors += 1,
                Ok(Err(e)) => panic!("flip in the data at {pos} failed: {e}"),
                Ok(Ok(_)) => {}
            }
        }
    }
    let _ = std::fs::remove_file(path);
    assert!(header_errors > 100, "{header_errors}");
}
