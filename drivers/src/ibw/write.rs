//! Encoding a [`Frame`] as a version-5 Igor binary wave the way Asylum saves an image: float32
//! `[points, lines, channels]` in column-major order, channel labels on the 3rd dimension, x/y scaling
//! in metres, and an Asylum-style note carrying the scan parameters — so that [`parse`](super::parse)
//! followed by [`IbwWave::to_frame`](super::IbwWave::to_frame) gives the frame back exactly.

use super::asylum::{asylum_note_entries, check_note_text, split_label, MAC_TO_UNIX_EPOCH_S};
use super::bytes::{ByteOrder, Writer};
use super::error::IbwError;
use crate::frame::Frame;

/// Longest wave name or dimension label a version-5 file holds, bytes.
const MAX_NAME: usize = 31;
/// Width of one dimension label slot, bytes.
const LABEL_SLOT: usize = 32;

/// How to write a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// Wave name (at most 31 bytes), e.g. the Asylum base name "Image0001".
    pub wave_name: String,
    /// Extra `Key: Value` note entries (e.g. setpoint, gains), written before the scan parameters;
    /// keys that collide with the scan parameters are overridden by them.
    pub extra_note: Vec<(String, String)>,
    /// Byte order to write (Asylum on Windows: little-endian).
    pub byte_order: ByteOrder,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self { wave_name: "afmSpark".into(), extra_note: Vec::new(), byte_order: ByteOrder::Little }
    }
}

fn invalid(msg: impl Into<String>) -> IbwError {
    IbwError::InvalidFrame(msg.into())
}

fn validate(frame: &Frame, options: &WriteOptions) -> Result<Vec<String>, IbwError> {
    let (points, lines) = (frame.raster.points, frame.raster.lines);
    if points == 0 || lines == 0 {
        return Err(invalid(format!("empty raster {points} × {lines}")));
    }
    if frame.channels.is_empty() {
        return Err(invalid("no channels"));
    }
    let r = &frame.region;
    let numbers = [r.center_x_m, r.center_y_m, r.width_m, r.height_m, r.angle_deg, frame.line_rate_hz];
    let times = [frame.instrument_time_s, frame.acquired_at_unix_s];
    if numbers.iter().chain(&times).any(|v| !v.is_finite()) || r.width_m < 0.0 || r.height_m < 0.0 {
        return Err(invalid(format!("region, rate or times not finite or negative: {r:?}, {} Hz", frame.line_rate_hz)));
    }
    let name = &options.wave_name;
    if name.is_empty() || name.len() > MAX_NAME || name.contains('\0') {
        return Err(invalid(format!("wave name {name:?} must be 1–{MAX_NAME} bytes without NUL")));
    }
    let mut labels = Vec::with_capacity(frame.channels.len());
    for ch in &frame.channels {
        if ch.data.dim() != (lines, points) {
            return Err(invalid(format!(
                "channel {} is {:?} (lines, points) but the raster is ({lines}, {points})",
                ch.label(),
                ch.data.dim()
            )));
        }
        let label = ch.label();
        if label.len() > MAX_NAME || label.contains('\0') || split_label(&label) != (ch.name.clone(), ch.direction) {
            return Err(invalid(format!("channel name {:?} cannot be stored as an Asylum label", ch.name)));
        }
        labels.push(label);
    }
    for (k, v) in &options.extra_note {
        check_note_text(k, v)?;
    }
    Ok(labels)
}

/// Encodes `frame` as a version-5 Igor binary wave (float32 `[points, lines, channels]`).
///
/// Layout: BinHeader5 (64 bytes) + WaveHeader5 (320) + data + note + dimension labels of the 3rd
/// dimension (one 32-byte slot for the dimension, one per channel). x/y scaling is the pixel pitch in
/// metres (`sfA`), offsets 0 as Asylum writes them. Errors if the frame is empty, a channel's shape
/// differs from the raster, a name or label does not fit, or a number is not finite.
pub fn write_v5(frame: &Frame, options: &WriteOptions) -> Result<Vec<u8>, IbwError> {
    let labels = validate(frame, options)?;
    let (points, lines, layers) = (frame.raster.points, frame.raster.lines, frame.channels.len());
    let too_big = || invalid(format!("{points} × {lines} × {layers} values do not fit an Igor wave"));
    let npnts = points.checked_mul(lines).and_then(|n| n.checked_mul(layers)).ok_or_else(too_big)?;
    let data_bytes = npnts.checked_mul(4).ok_or_else(too_big)?;
    let wfm_size = i32::try_from(data_bytes + 320).map_err(|_| too_big())?;
    let as_i32 = |n: usize| i32::try_from(n).map_err(|_| too_big());

    let mut note_entries = options.extra_note.clone();
    note_entries.extend(asylum_note_entries(frame)?);
    let note: String = note_entries.iter().map(|(k, v)| format!("{k}: {v}\r")).collect();
    let first_unit = frame.channels.first().map(|c| c.unit.as_str()).unwrap_or("");
    let (data_units_field, data_eunits) = if first_unit.len() <= 3 { (first_unit, "") } else { ("", first_unit) };
    let labels_size = (layers + 1) * LABEL_SLOT;
    let (pitch_x, pitch_y) = frame.region.pitch_m(&frame.raster);
    let mac_date = (frame.acquired_at_unix_s + MAC_TO_UNIX_EPOCH_S).clamp(0.0, f64::from(u32::MAX)) as u32;

    let mut w = Writer::new(options.byte_order, 384 + data_bytes + note.len() + labels_size);
    // BinHeader5
    w.i16(5);
    w.i16(0); // checksum, patched below
    w.i32(wfm_size);
    w.i32(0); // formulaSize
    w.i32(as_i32(note.len())?);
    w.i32(as_i32(data_eunits.len())?);
    w.zeros(16); // dimEUnitsSize[4]
    w.i32(0);
    w.i32(0);
    w.i32(as_i32(labels_size)?); // dimLabelsSize[2]: the channel labels
    w.i32(0);
    w.zeros(12); // sIndicesSize, optionsSize1, optionsSize2
                 // WaveHeader5
    w.u32(0); // next
    w.u32(mac_date); // creationDate
    w.u32(mac_date); // modDate
    w.i32(as_i32(npnts)?);
    w.i16(2); // NT_FP32
    w.i16(0); // dLock
    w.zeros(6); // whpad1
    w.i16(1); // whVersion
    w.fixed_text(&options.wave_name, 32);
    w.i32(0); // whpad2
    w.u32(0); // dFolder
    for n in [points, lines, layers, 0] {
        w.i32(as_i32(n)?);
    }
    for a in [pitch_x, pitch_y, 1.0, 1.0] {
        w.f64(a);
    }
    w.zeros(32); // sfB: 0 for every dimension, as Asylum writes
    w.fixed_text(data_units_field, 4);
    for u in ["m", "m", "", ""] {
        w.fixed_text(u, 4);
    }
    w.i16(0); // fsValid
    w.i16(0); // whpad3
    w.f64(0.0); // topFullScale
    w.f64(0.0); // botFullScale
    w.zeros(320 - 188); // handles, whUnused, private fields: all zero on disk
    debug_assert_eq!(w.buf.len(), 384);
    let sum = w.buf.chunks_exact(2).fold(0u16, |acc, c| {
        let word = match options.byte_order {
            ByteOrder::Little => u16::from_le_bytes([c[0], c[1]]),
            ByteOrder::Big => u16::from_be_bytes([c[0], c[1]]),
        };
        acc.wrapping_add(word)
    });
    w.patch_i16(2, (sum as i16).wrapping_neg());
    // Data: element (p, l, c) at p + l·P + c·P·L, i.e. each channel's [line, point] rows in order.
    for ch in &frame.channels {
        for v in ch.data.iter() {
            w.f32(*v);
        }
    }
    w.buf.extend_from_slice(note.as_bytes());
    w.buf.extend_from_slice(data_eunits.as_bytes());
    w.fixed_text("", LABEL_SLOT);
    for label in &labels {
        w.fixed_text(label, LABEL_SLOT);
    }
    Ok(w.buf)
}
