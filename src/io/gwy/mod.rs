//! Gwyddion's native `.gwy` files (the GWYP container): read every image channel with its physical
//! size, offsets, units and title; write a [`Frame`] so Gwyddion (File → Open), `gwyddion-thumbnailer`
//! and Python's `gwyfile` open it. Layers: [`serial`] (the generic object serialization), [`field`]
//! (`GwyDataField`, `GwySIUnit`, the container keys), this file (our frames ⇄ `.gwy`).
//!
//! **Orientation.** Gwyddion stores rows top to bottom; our arrays are `[line, point]` with row 0 the
//! bottom line (Asylum's convention). Rows are reversed on writing and on reading, values are not
//! touched: `f32` data written and read back are bit for bit the same.
//!
//! **Geometry.** Gwyddion treats pixels as areas: `xreal` = pitch × `xres`, while our `width_m` runs
//! from the first to the last point (pitch × (N − 1), Asylum's convention); the pitch is the same.
//! `xoff`/`yoff` are written as the scanner coordinates of the pixel area's lower-left corner (half a
//! pixel beyond the first point). Gwyddion draws y downwards, so in Gwyddion y read-outs grow from the
//! top edge while the scanner's y grows upward; sizes and distances are unaffected. Each channel's
//! `/N/meta` also carries the Asylum-style scan parameters (`ScanSize`, `XOffset`, `ScanAngle`,
//! `ScanRate`, `<Name>Unit`, …) plus the caller's entries. On reading, geometry comes from those
//! parameters when they agree with the data field (so our own files round-trip exactly, angle and line
//! rate included), else from the data field itself (a file cropped in Gwyddion keeps stale metadata).
//!
//! **Units.** Lateral units with an SI prefix (`nm`, `µm` …) are converted to metres; a value unit
//! with a prefix (`nm`, `mV` …) is converted to its base unit by scaling the data. A lateral unit that
//! is not a length leaves the geometry unknown ([`DEFAULT_PIXEL_PITCH_M`] assumed, as for `.npy`).

pub mod error;
pub mod field;
pub mod serial;

pub use error::GwyError;
pub use field::{DataField, GwyChannel, GwyDocument};

use super::{FileFormat, IoError, LoadedFile, DEFAULT_PIXEL_PITCH_M, OTHER_CHANNELS_KEY};
use afm_drivers::ibw::{asylum_note_entries, split_label, AsylumScan, Note};
use afm_drivers::{ChannelImage, Frame, Raster, ScanDirection, ScanRegion};
use std::collections::BTreeMap;
use std::path::Path;

/// Metadata key (ours) holding the Gwyddion title of the first channel of a loaded file.
pub const TITLE_KEY: &str = "GwyddionTitle";

/// Decodes `.gwy` bytes into the channels they hold (no interpretation of units or geometry).
pub fn decode(bytes: &[u8]) -> Result<GwyDocument, GwyError> {
    GwyDocument::from_container(&serial::decode_file(bytes)?)
}

/// Encodes channels as a complete `.gwy` file.
pub fn encode(doc: &GwyDocument) -> Result<Vec<u8>, GwyError> {
    serial::encode_file(&doc.to_container()?)
}

/// A `.gwy` title for a channel: its name for a trace channel ("Height"), its Asylum label for a
/// retrace one ("HeightRetrace"), so that reading it back with [`split_label`] gives name and direction.
fn title_of(ch: &ChannelImage) -> String {
    match ch.direction {
        ScanDirection::Trace if split_label(&ch.name) == (ch.name.clone(), ScanDirection::Trace) => ch.name.clone(),
        _ => ch.label(),
    }
}

/// Encodes `frame` as a `.gwy`: channel k as `/k/data` (`xreal` = pitch × points, offsets at the
/// lower-left corner of the pixel area, lateral unit "m", value unit the channel's), titled by
/// channel, and `/k/meta` holding `meta` followed by the Asylum-style scan parameters of the frame
/// (which win over a caller entry of the same key). Errors if the frame is empty, a channel's shape
/// differs from the raster, a value is NaN or infinite (Gwyddion has no missing values in a field), or
/// the region is not finite.
pub fn encode_frame(frame: &Frame, meta: &[(String, String)]) -> Result<Vec<u8>, GwyError> {
    let (points, lines) = (frame.raster.points, frame.raster.lines);
    if points == 0 || lines == 0 || frame.channels.is_empty() {
        return Err(GwyError::Unwritable(format!("empty frame: {points} × {lines} pixels, {} channels", frame.channels.len())));
    }
    let r = &frame.region;
    if ![r.center_x_m, r.center_y_m, r.width_m, r.height_m, r.angle_deg].iter().all(|v| v.is_finite())
        || r.width_m < 0.0
        || r.height_m < 0.0
    {
        return Err(GwyError::Unwritable(format!("region not finite or negative: {r:?}")));
    }
    let scan_entries = asylum_note_entries(frame).map_err(|e| GwyError::Unwritable(e.to_string()))?;
    let mut entries: Vec<(String, String)> = meta.iter().filter(|(k, _)| !scan_entries.iter().any(|(s, _)| s == k)).cloned().collect();
    entries.extend(scan_entries);
    let (px, py) = frame.region.pitch_m(&frame.raster);
    // A single point or line has no pitch: borrow the other axis', else 1 nm, so xreal stays positive.
    let fallback = if px > 0.0 {
        px
    } else if py > 0.0 {
        py
    } else {
        DEFAULT_PIXEL_PITCH_M
    };
    let (px, py) = (if px > 0.0 { px } else { fallback }, if py > 0.0 { py } else { fallback });
    let mut channels = Vec::with_capacity(frame.channels.len());
    for (k, ch) in frame.channels.iter().enumerate() {
        if ch.data.dim() != (lines, points) {
            return Err(GwyError::Unwritable(format!(
                "channel {} is {:?} (lines, points) but the raster is ({lines}, {points})",
                ch.label(),
                ch.data.dim()
            )));
        }
        let bad = ch.data.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(GwyError::Unwritable(format!("channel {} has {bad} NaN or infinite values", ch.label())));
        }
        let mut field = DataField::from_bottom_up(ch.data.view());
        field.xreal = px * points as f64;
        field.yreal = py * lines as f64;
        field.xoff = r.center_x_m - field.xreal / 2.0;
        field.yoff = r.center_y_m - field.yreal / 2.0;
        field.si_unit_xy = "m".into();
        field.si_unit_z = ch.unit.clone();
        let id = u32::try_from(k).map_err(|_| GwyError::Unwritable("too many channels".into()))?;
        channels.push(GwyChannel { id, title: title_of(ch), field, meta: entries.clone() });
    }
    encode(&GwyDocument { channels })
}

/// Writes `frame` as a `.gwy` file at `path` (see [`encode_frame`]).
pub fn write_file(path: &Path, frame: &Frame, meta: &[(String, String)]) -> Result<(), IoError> {
    let bytes = encode_frame(frame, meta).map_err(|cause| IoError::Gwy { path: path.to_path_buf(), cause })?;
    std::fs::write(path, bytes).map_err(|e| IoError::os(path, "cannot write", e))
}

/// Reads a `.gwy` file for [`load`](super::load): see [`from_bytes`].
pub fn read_file(path: &Path) -> Result<LoadedFile, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, "cannot read", e))?;
    if bytes.is_empty() {
        return Err(IoError::Empty { path: path.to_path_buf() });
    }
    from_bytes(path, &bytes)
}

/// SI prefixes we convert, with their factors.
const PREFIXES: [(&str, f64); 10] =
    [("f", 1e-15), ("p", 1e-12), ("n", 1e-9), ("u", 1e-6), ("µ", 1e-6), ("μ", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9)];
/// Base units a prefix may precede.
const BASE_UNITS: [&str; 7] = ["m", "V", "A", "Hz", "N", "s", "W"];

/// A unit split into (factor to its base unit, base unit): "nm" → (1e-9, "m"), "mV" → (1e-3, "V"),
/// "m" → (1, "m"); Ångström → (1e-10, "m"). Anything else is kept as it is with factor 1.
pub fn base_unit(unit: &str) -> (f64, String) {
    let unit = unit.trim();
    if BASE_UNITS.contains(&unit) {
        return (1.0, unit.to_string());
    }
    if matches!(unit, "Å" | "A\u{30a}" | "\u{212b}") {
        return (1e-10, "m".into());
    }
    for (prefix, factor) in PREFIXES {
        if let Some(base) = unit.strip_prefix(prefix) {
            if BASE_UNITS.contains(&base) {
                return (factor, base.to_string());
            }
        }
    }
    (1.0, unit.to_string())
}

/// The field's geometry in our terms: (region, known). Known when the lateral unit is a length; the
/// region then has the field's pitch and centre, angle 0.
fn field_region(f: &DataField) -> (ScanRegion, bool) {
    let (factor, base) = base_unit(&f.si_unit_xy);
    if base != "m" {
        let span = |n: usize| DEFAULT_PIXEL_PITCH_M * n.saturating_sub(1) as f64;
        return (ScanRegion { width_m: span(f.xres), height_m: span(f.yres), ..ScanRegion::square(0.0, 0.0, 0.0) }, false);
    }
    let (xreal, yreal) = (f.xreal * factor, f.yreal * factor);
    let region = ScanRegion {
        center_x_m: f.xoff * factor + xreal / 2.0,
        center_y_m: f.yoff * factor + yreal / 2.0,
        width_m: xreal / f.xres as f64 * f.xres.saturating_sub(1) as f64,
        height_m: yreal / f.yres as f64 * f.yres.saturating_sub(1) as f64,
        angle_deg: 0.0,
    };
    (region, true)
}

/// The Asylum scan in `meta` when it describes this field: same points and lines (when given) and the
/// same size and centre to 1e-9 of the size. A note that cannot be read is ignored (the field decides).
fn matching_scan(meta: &BTreeMap<String, String>, field_region: &ScanRegion, raster: &Raster) -> Option<AsylumScan> {
    let scan = AsylumScan::from_note(&Note::from_pairs(meta)).ok().flatten()?;
    let s = &scan.region;
    let tol = 1e-9 * s.width_m.max(s.height_m).max(f64::MIN_POSITIVE);
    let close = |a: f64, b: f64| (a - b).abs() <= tol;
    let shape_ok = scan.points.is_none_or(|p| p == raster.points) && scan.lines.is_none_or(|l| l == raster.lines);
    let size_ok = close(s.width_m, field_region.width_m) && close(s.height_m, field_region.height_m);
    let centre_ok = close(s.center_x_m, field_region.center_x_m) && close(s.center_y_m, field_region.center_y_m);
    (shape_ok && size_ok && centre_ok).then_some(scan)
}

/// Decodes `.gwy` bytes that came from `path` into a [`LoadedFile`]. The frame holds the channels
/// with the first channel's raster, geometry and lateral unit (the others are listed under
/// [`OTHER_CHANNELS_KEY`]); channel name and direction from the title (`HeightRetrace` → Height,
/// retrace; an untitled channel N is `ChannelN`); metadata from the first channel's `/N/meta` plus its
/// title under [`TITLE_KEY`].
pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<LoadedFile, IoError> {
    let err = |cause| IoError::Gwy { path: path.to_path_buf(), cause };
    let doc = decode(bytes).map_err(err)?;
    let first = doc.channels.first().ok_or_else(|| err(GwyError::NoDataField { keys: "none".into() }))?;
    let f0 = &first.field;
    let raster = Raster::new(f0.xres, f0.yres);
    let same_grid = |f: &DataField| {
        (f.xres, f.yres, f.xreal, f.yreal, f.xoff, f.yoff, f.si_unit_xy.as_str())
            == (f0.xres, f0.yres, f0.xreal, f0.yreal, f0.xoff, f0.yoff, f0.si_unit_xy.as_str())
    };
    let mut images = Vec::with_capacity(doc.channels.len());
    let mut others = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ch in &doc.channels {
        let title = if ch.title.is_empty() { format!("Channel{}", ch.id) } else { ch.title.clone() };
        if !same_grid(&ch.field) {
            others.push(format!("{title} {}×{}", ch.field.xres, ch.field.yres));
            continue;
        }
        let (mut name, direction) = split_label(&title);
        if !seen.insert((name.clone(), direction)) {
            name = format!("{name}#{}", ch.id); // two channels of one title stay distinguishable
            seen.insert((name.clone(), direction));
        }
        let (factor, unit) = base_unit(&ch.field.si_unit_z);
        images.push(ChannelImage { name, direction, unit, data: ch.field.bottom_up(factor) });
    }
    let mut metadata: BTreeMap<String, String> = first.meta.iter().cloned().collect();
    metadata.insert(TITLE_KEY.to_string(), first.title.clone());
    if !others.is_empty() {
        metadata.insert(OTHER_CHANNELS_KEY.to_string(), others.join(", "));
    }
    let (region_from_field, geometry_known) = field_region(f0);
    let scan = if geometry_known { matching_scan(&metadata, &region_from_field, &raster) } else { None };
    let region = scan.as_ref().map(|s| s.region).unwrap_or(region_from_field);
    let line_rate_hz = scan.as_ref().and_then(|s| s.line_rate_hz).unwrap_or(0.0);
    let instrument_time_s = scan.as_ref().and_then(|s| s.instrument_time_s).unwrap_or(if line_rate_hz > 0.0 {
        raster.lines as f64 / line_rate_hz
    } else {
        0.0
    });
    let acquired_at_unix_s = scan.as_ref().and_then(|s| s.acquired_at_unix_s).unwrap_or(0.0);
    let frame = Frame { region, raster, line_rate_hz, channels: images, instrument_time_s, acquired_at_unix_s };
    Ok(LoadedFile { path: path.to_path_buf(), format: FileFormat::Gwy, frame, metadata, geometry_known })
}

#[cfg(test)]
mod tests;
