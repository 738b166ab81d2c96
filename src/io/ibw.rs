//! Igor binary wave files (Asylum Research images) on disk: read into a [`LoadedFile`], write a
//! [`Frame`] as a version-5 `.ibw`. The codec itself (bytes in, bytes out) is
//! [`afm_drivers::ibw`], shared with the MFP-3D bridge.

use super::{IoError, LoadedFile, DEFAULT_PIXEL_PITCH_M};
use afm_drivers::ibw::{self, IbwError, IbwWave, WriteOptions};
use afm_drivers::{Frame, Raster, ScanRegion};
use std::path::Path;

/// Reads an `.ibw` file. Geometry comes from the Asylum note, else the wave's metric x/y scaling;
/// a wave with neither still loads, with [`DEFAULT_PIXEL_PITCH_M`] and `geometry_known = false`.
pub fn read_file(path: &Path) -> Result<LoadedFile, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, "cannot read", e))?;
    if bytes.is_empty() {
        return Err(IoError::Empty { path: path.to_path_buf() });
    }
    from_bytes(path, &bytes)
}

/// Decodes `.ibw` bytes that came from `path` (a file, or e.g. a bridge reply named like one).
pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<LoadedFile, IoError> {
    let err = |cause| IoError::Ibw { path: path.to_path_buf(), cause };
    let wave = ibw::parse(bytes).map_err(err)?;
    let (frame, geometry_known) = match wave.to_frame() {
        Ok(frame) => (frame, true),
        Err(IbwError::NoGeometry { .. }) => (frame_with_default_pitch(&wave).map_err(err)?, false),
        Err(e) => return Err(err(e)),
    };
    let mut metadata = wave.note.to_map();
    metadata.entry("WaveName".into()).or_insert_with(|| wave.name.clone());
    metadata.entry("IgorVersion".into()).or_insert_with(|| wave.version.to_string());
    Ok(LoadedFile { path: path.to_path_buf(), format: super::FileFormat::Ibw, frame, metadata, geometry_known })
}

fn frame_with_default_pitch(wave: &IbwWave) -> Result<Frame, IbwError> {
    let channels = wave.channel_images()?;
    let (points, lines, _) = wave.image_shape()?;
    let raster = Raster::new(points, lines);
    let span = |n: usize| DEFAULT_PIXEL_PITCH_M * n.saturating_sub(1) as f64;
    Ok(Frame {
        region: ScanRegion { width_m: span(points), height_m: span(lines), ..ScanRegion::square(0.0, 0.0, 0.0) },
        raster,
        line_rate_hz: 0.0,
        channels,
        instrument_time_s: 0.0,
        acquired_at_unix_s: 0.0,
    })
}

/// Writes `frame` as a version-5 `.ibw` (see [`afm_drivers::ibw::write_v5`]).
pub fn write_file(path: &Path, frame: &Frame, options: &WriteOptions) -> Result<(), IoError> {
    let bytes = ibw::write_v5(frame, options).map_err(|cause| IoError::Ibw { path: path.to_path_buf(), cause })?;
    std::fs::write(path, bytes).map_err(|e| IoError::os(path, "cannot write", e))
}
