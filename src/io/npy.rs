//! Plain NumPy `.npy` arrays (how the original AFM-SPARK scripts exchange HR/LR pairs, and how our
//! run folders expose `lr.npy`, `sr.npy` …): read a 2-D `float32` or `float64` array (as `f32`), write
//! a 2-D `float32` one. An array is `[line, point]`, row 0 the first (bottom) line — the order of
//! [`ChannelImage::data`](afm_drivers::ChannelImage) — with no flip. A `.npy` carries no geometry.

use super::{FileFormat, IoError, LoadedFile, DEFAULT_PIXEL_PITCH_M};
use afm_drivers::{ChannelImage, Frame, Raster, ScanDirection, ScanRegion};
use ndarray::{Array2, ArrayD, ArrayViewD, Ix2};
use ndarray_npy::{ReadNpyExt, ViewNpyError, ViewNpyExt, WriteNpyExt};
use std::collections::BTreeMap;
use std::path::Path;

fn npy_err(path: &Path, what: impl Into<String>) -> IoError {
    IoError::Npy { path: path.to_path_buf(), what: what.into() }
}

/// What viewing the buffer as one element type told us.
enum Probe<A> {
    /// A native-endian, aligned array of that type.
    Array(ArrayD<A>),
    /// The header's length checks passed but the data cannot be viewed in place (misaligned or
    /// non-native byte order): reading it allocates no more than the file holds.
    ReadInstead,
    /// The file holds another element type.
    OtherType(String),
}

/// Views `bytes` as an array of `A` without copying. `view_npy` checks the header and that the
/// data length matches it before anything is allocated, so a corrupt header cannot make us allocate
/// more than the file holds.
fn probe<A: ndarray_npy::ViewElement + Clone>(path: &Path, bytes: &[u8]) -> Result<Probe<A>, IoError> {
    match ArrayViewD::<A>::view_npy(bytes) {
        Ok(view) => Ok(Probe::Array(view.to_owned())),
        Err(ViewNpyError::MisalignedData) => Ok(Probe::ReadInstead),
        Err(ViewNpyError::WrongDescriptor(d)) => Ok(Probe::OtherType(d.to_string())),
        Err(ViewNpyError::NonNativeEndian) => {
            Err(npy_err(path, "data are in non-native byte order; save the array as little-endian ('<f4' or '<f8')"))
        }
        Err(ViewNpyError::MissingBytes(n)) => Err(npy_err(path, format!("truncated: {n} data bytes missing"))),
        Err(ViewNpyError::ExtraBytes(n)) => Err(npy_err(path, format!("{n} unexpected bytes after the data"))),
        Err(e) => Err(npy_err(path, e.to_string())),
    }
}

/// Reads a 2-D `float32` or `float64` array as `f32`, `[line, point]`. Errors (naming the file) on a
/// truncated or garbled file, another dtype, another number of dimensions, or an empty array.
pub fn read_array(path: &Path) -> Result<Array2<f32>, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, "cannot read", e))?;
    if bytes.is_empty() {
        return Err(IoError::Empty { path: path.to_path_buf() });
    }
    let array: ArrayD<f32> = match probe::<f32>(path, &bytes)? {
        Probe::Array(a) => a,
        Probe::ReadInstead => ArrayD::<f32>::read_npy(bytes.as_slice()).map_err(|e| npy_err(path, e.to_string()))?,
        Probe::OtherType(_) => match probe::<f64>(path, &bytes)? {
            Probe::Array(a) => a.mapv(|v| v as f32),
            Probe::ReadInstead => ArrayD::<f64>::read_npy(bytes.as_slice()).map_err(|e| npy_err(path, e.to_string()))?.mapv(|v| v as f32),
            Probe::OtherType(d) => return Err(npy_err(path, format!("dtype {d} is not float32 or float64"))),
        },
    };
    let shape = array.shape().to_vec();
    let image = array.into_dimensionality::<Ix2>().map_err(|_| IoError::Shape {
        path: path.to_path_buf(),
        what: "the array".into(),
        found: shape.clone(),
        expected: "a 2-D image [lines, points]".into(),
    })?;
    if image.is_empty() {
        return Err(IoError::Shape {
            path: path.to_path_buf(),
            what: "the array".into(),
            found: shape,
            expected: "at least one line and one point".into(),
        });
    }
    Ok(image)
}

/// Writes a 2-D `float32` array (C order, little-endian `<f4`).
pub fn write_array(path: &Path, array: &Array2<f32>) -> Result<(), IoError> {
    let file = std::fs::File::create(path).map_err(|e| IoError::os(path, "cannot create", e))?;
    let mut writer = std::io::BufWriter::new(file);
    array.write_npy(&mut writer).map_err(|e| npy_err(path, format!("cannot write: {e}")))?;
    std::io::Write::flush(&mut writer).map_err(|e| IoError::os(path, "cannot write", e))
}

/// Reads a `.npy` image as a one-channel frame ("Height", trace, metres) centred at the origin with
/// pixel pitch `pixel_pitch_m` along both axes; line rate and times 0 (unknown).
pub fn read_frame(path: &Path, pixel_pitch_m: f64) -> Result<Frame, IoError> {
    let data = read_array(path)?;
    let (lines, points) = data.dim();
    let span = |n: usize| pixel_pitch_m * n.saturating_sub(1) as f64;
    Ok(Frame {
        region: ScanRegion { width_m: span(points), height_m: span(lines), ..ScanRegion::square(0.0, 0.0, 0.0) },
        raster: Raster::new(points, lines),
        line_rate_hz: 0.0,
        channels: vec![ChannelImage { name: "Height".into(), direction: ScanDirection::Trace, unit: "m".into(), data }],
        instrument_time_s: 0.0,
        acquired_at_unix_s: 0.0,
    })
}

/// Reads a `.npy` for [`load`](super::load): [`read_frame`] with [`DEFAULT_PIXEL_PITCH_M`] and
/// `geometry_known = false`.
pub fn read_file(path: &Path) -> Result<LoadedFile, IoError> {
    let frame = read_frame(path, DEFAULT_PIXEL_PITCH_M)?;
    let metadata = BTreeMap::from([("AssumedPixelPitchM".to_string(), DEFAULT_PIXEL_PITCH_M.to_string())]);
    Ok(LoadedFile { path: path.to_path_buf(), format: FileFormat::Npy, frame, metadata, geometry_known: false })
}
