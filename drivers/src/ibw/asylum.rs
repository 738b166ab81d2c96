//! Asylum Research conventions on top of a plain wave: channel labels (`HeightRetrace` → Height,
//! retrace), channel units, the scan geometry and rate from the note, and the conversion to a
//! [`Frame`].
//!
//! Geometry from the note: width = `FastScanSize` (else `ScanSize · FastRatio`), height =
//! `SlowScanSize` (else `ScanSize · SlowRatio`) — in Asylum files `FastScanSize = ScanSize · FastRatio`;
//! centre = (`XOffset`, `YOffset`), rotation `ScanAngle` (degrees); missing ratios default to 1, missing
//! offsets and angle to 0. Line rate = `ScanRate` (lines per second); absent or 0 means unknown and
//! gives `line_rate_hz = 0`. A wave without `ScanSize`/`FastScanSize` in its note falls back to its
//! x/y dimension scaling when that is in metres, else [`IbwError::NoGeometry`].

use super::error::IbwError;
use super::note::format_number;
use super::note::Note;
use super::IbwWave;
use crate::frame::{ChannelImage, Frame, ScanDirection};
use crate::geometry::{Raster, ScanRegion};
use std::collections::BTreeMap;

/// Seconds from the Igor/Mac epoch (1904-01-01) to the Unix epoch (1970-01-01).
pub const MAC_TO_UNIX_EPOCH_S: f64 = 2_082_844_800.0;

/// Note key (ours, not Asylum's) holding the frame's instrument time in seconds.
pub(crate) const KEY_INSTRUMENT_TIME: &str = "AfmSparkInstrumentTime";
/// Note key (ours, not Asylum's) holding the acquisition time in seconds since the Unix epoch.
pub(crate) const KEY_ACQUIRED_AT: &str = "AfmSparkAcquiredUnixTime";

/// Splits an Asylum channel label into name and direction: `HeightRetrace` → ("Height", Retrace),
/// `AmplitudeTrace` → ("Amplitude", Trace). A label without either suffix is a trace channel of
/// that name.
pub fn split_label(label: &str) -> (String, ScanDirection) {
    for (suffix, dir) in [("Retrace", ScanDirection::Retrace), ("Trace", ScanDirection::Trace)] {
        if let Some(name) = label.strip_suffix(suffix) {
            if !name.is_empty() {
                return (name.to_string(), dir);
            }
        }
    }
    (label.to_string(), ScanDirection::Trace)
}

/// The unit of channel `name`: the note's `<name>Unit` entry when present (Asylum writes e.g.
/// `UserIn0Unit: V`); else Asylum's fixed units — Phase in degrees, Current in amperes, Frequency in
/// hertz, UserIn/Potential/Bias in volts; else the wave's data units (Asylum: "m").
pub fn channel_unit(name: &str, note: &Note, wave_units: &str) -> String {
    if let Some(v) = note.get(&format!("{name}Unit")) {
        return v.text.clone();
    }
    let fixed = [("Phase", "deg"), ("Current", "A"), ("Frequency", "Hz"), ("UserIn", "V"), ("Potential", "V"), ("Bias", "V")];
    fixed.iter().find(|(prefix, _)| name.starts_with(prefix)).map(|(_, unit)| unit.to_string()).unwrap_or_else(|| wave_units.to_string())
}

/// The scan an Asylum note describes.
#[derive(Debug, Clone, PartialEq)]
pub struct AsylumScan {
    /// Region scanned (metres, degrees).
    pub region: ScanRegion,
    /// `ScanRate` in lines per second, if given and positive.
    pub line_rate_hz: Option<f64>,
    /// `ScanPoints`, if given.
    pub points: Option<usize>,
    /// `ScanLines`, if given.
    pub lines: Option<usize>,
    /// Instrument time of the frame in seconds, if the note carries ours (`AfmSparkInstrumentTime`).
    pub instrument_time_s: Option<f64>,
    /// Acquisition time in seconds since the Unix epoch, if the note carries ours
    /// (`AfmSparkAcquiredUnixTime`).
    pub acquired_at_unix_s: Option<f64>,
}

/// `key` as a finite number: `Ok(None)` when absent, an error naming the key when not a number.
fn finite(note: &Note, key: &str) -> Result<Option<f64>, IbwError> {
    let Some(v) = note.get(key) else { return Ok(None) };
    let bad = |why| IbwError::BadNoteValue { key: key.to_string(), value: v.text.clone(), why };
    match v.number {
        None => Err(bad("is not a number")),
        Some(x) if !x.is_finite() => Err(bad("is not finite")),
        Some(x) => Ok(Some(x)),
    }
}

fn non_negative(note: &Note, key: &str, value: f64) -> Result<f64, IbwError> {
    if value < 0.0 {
        let text = note.get(key).map(|v| v.text.clone()).unwrap_or_default();
        return Err(IbwError::BadNoteValue { key: key.to_string(), value: text, why: "must not be negative" });
    }
    Ok(value)
}

fn count(note: &Note, key: &str) -> Result<Option<usize>, IbwError> {
    match finite(note, key)? {
        None => Ok(None),
        Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64 => Ok(Some(x as usize)),
        Some(_) => Err(IbwError::BadNoteValue {
            key: key.to_string(),
            value: note.get(key).map(|v| v.text.clone()).unwrap_or_default(),
            why: "is not a whole number of pixels",
        }),
    }
}

impl AsylumScan {
    /// Reads the scan geometry and rate from `note` (rules in the module docs). `Ok(None)` when the
    /// note has neither `ScanSize` nor `FastScanSize` (not an Asylum image note).
    pub fn from_note(note: &Note) -> Result<Option<Self>, IbwError> {
        let scan_size = finite(note, "ScanSize")?;
        let fast = finite(note, "FastScanSize")?;
        if scan_size.is_none() && fast.is_none() {
            return Ok(None);
        }
        let fast_ratio = finite(note, "FastRatio")?.unwrap_or(1.0);
        let slow_ratio = finite(note, "SlowRatio")?.unwrap_or(1.0);
        let width_m = match (fast, scan_size) {
            (Some(w), _) => non_negative(note, "FastScanSize", w)?,
            (None, Some(s)) => non_negative(note, "ScanSize", s)? * non_negative(note, "FastRatio", fast_ratio)?,
            (None, None) => return Ok(None),
        };
        let height_m = match (finite(note, "SlowScanSize")?, scan_size) {
            (Some(h), _) => non_negative(note, "SlowScanSize", h)?,
            (None, Some(s)) => non_negative(note, "ScanSize", s)? * non_negative(note, "SlowRatio", slow_ratio)?,
            (None, None) => {
                return Err(IbwError::BadNoteValue {
                    key: "SlowScanSize".into(),
                    value: String::new(),
                    why: "is missing (and so is ScanSize) while FastScanSize is given",
                })
            }
        };
        let region = ScanRegion {
            center_x_m: finite(note, "XOffset")?.unwrap_or(0.0),
            center_y_m: finite(note, "YOffset")?.unwrap_or(0.0),
            width_m,
            height_m,
            angle_deg: finite(note, "ScanAngle")?.unwrap_or(0.0),
        };
        let line_rate_hz = finite(note, "ScanRate")?.filter(|r| *r > 0.0);
        Ok(Some(Self {
            region,
            line_rate_hz,
            points: count(note, "ScanPoints")?,
            lines: count(note, "ScanLines")?,
            instrument_time_s: finite(note, KEY_INSTRUMENT_TIME)?,
            acquired_at_unix_s: finite(note, KEY_ACQUIRED_AT)?,
        }))
    }
}

impl IbwWave {
    /// Every image layer as a channel: name and direction from its label, unit from
    /// [`channel_unit`], data `[line, point]` with row 0 the bottom line.
    pub fn channel_images(&self) -> Result<Vec<ChannelImage>, IbwError> {
        self.image_shape()?;
        self.channel_labels()
            .into_iter()
            .enumerate()
            .map(|(c, label)| {
                let data = self.layer(c).ok_or_else(|| IbwError::NotAnImage { name: self.name.clone(), dims: self.dims.clone() })?;
                let (name, direction) = split_label(&label);
                let unit = channel_unit(&name, &self.note, &self.data_units);
                Ok(ChannelImage { name, direction, unit, data })
            })
            .collect()
    }

    /// The scanned region: from the Asylum note, else from x/y dimension scaling in metres, else
    /// [`IbwError::NoGeometry`].
    pub fn region(&self) -> Result<ScanRegion, IbwError> {
        if let Some(scan) = AsylumScan::from_note(&self.note)? {
            return Ok(scan.region);
        }
        let (p, l, _) = self.image_shape()?;
        match self.scales.as_slice() {
            [x, y, ..] if x.units == "m" && y.units == "m" => {
                let span = |delta: f64, n: usize| delta * n.saturating_sub(1) as f64;
                let (w, h) = (span(x.delta, p), span(y.delta, l));
                let region = ScanRegion {
                    center_x_m: x.offset + w / 2.0,
                    center_y_m: y.offset + h / 2.0,
                    width_m: w.abs(),
                    height_m: h.abs(),
                    angle_deg: 0.0,
                };
                let vals = [region.center_x_m, region.center_y_m, region.width_m, region.height_m];
                if vals.iter().all(|v| v.is_finite()) {
                    Ok(region)
                } else {
                    Err(IbwError::NoGeometry { name: self.name.clone() })
                }
            }
            _ => Err(IbwError::NoGeometry { name: self.name.clone() }),
        }
    }

    /// The wave as a frame: channels from [`channel_images`](Self::channel_images), region from
    /// [`region`](Self::region), raster from the wave's dimensions (not the note), line rate from
    /// `ScanRate` (0 when unknown). Instrument time: our own note key if present, else lines / rate
    /// (0 when the rate is unknown). Acquisition time: our own note key if present, else the wave's
    /// modification date.
    pub fn to_frame(&self) -> Result<Frame, IbwError> {
        let channels = self.channel_images()?;
        let (points, lines, _) = self.image_shape()?;
        let region = self.region()?;
        let line_rate_hz = AsylumScan::from_note(&self.note)?.and_then(|s| s.line_rate_hz).unwrap_or(0.0);
        let instrument_time_s = match finite(&self.note, KEY_INSTRUMENT_TIME)? {
            Some(t) => t,
            None if line_rate_hz > 0.0 => lines as f64 / line_rate_hz,
            None => 0.0,
        };
        let acquired_at_unix_s = match finite(&self.note, KEY_ACQUIRED_AT)? {
            Some(t) => t,
            None if self.modification_date_mac_s > 0 => f64::from(self.modification_date_mac_s) - MAC_TO_UNIX_EPOCH_S,
            None => 0.0,
        };
        Ok(Frame { region, raster: Raster::new(points, lines), line_rate_hz, channels, instrument_time_s, acquired_at_unix_s })
    }
}

/// A note entry's key and value must survive `Key: Value` + CR framing and trimming.
pub(crate) fn check_note_text(key: &str, value: &str) -> Result<(), IbwError> {
    let breaks = |s: &str| s.contains(['\r', '\n', '\0']);
    if key.trim().is_empty() || key.contains(':') || breaks(key) || key.trim() != key {
        return Err(IbwError::InvalidFrame(format!("note key {key:?} is empty, has surrounding spaces, a ':' or a line break")));
    }
    if breaks(value) || value.trim() != value {
        return Err(IbwError::InvalidFrame(format!("note value {value:?} for {key} has a line break or surrounding spaces")));
    }
    Ok(())
}

/// The Asylum-style note entries describing `frame`, in the order written: ScanSize (the larger
/// side), FastScanSize, SlowScanSize, ScanRate, XOffset, YOffset, PointsLines, ScanPoints, ScanLines,
/// ScanAngle, FastRatio, SlowRatio, `<Name>Unit` per channel, then our instrument and acquisition
/// times. [`AsylumScan::from_note`] reads them back exactly. Errors if a channel name has two units
/// or a unit cannot be stored in a note line.
pub fn asylum_note_entries(frame: &Frame) -> Result<Vec<(String, String)>, IbwError> {
    let r = &frame.region;
    let scan_size = r.width_m.max(r.height_m);
    let ratio = |v: f64| if scan_size > 0.0 { v / scan_size } else { 1.0 };
    let n = format_number;
    let mut entries = vec![
        ("ScanSize".to_string(), n(scan_size)),
        ("FastScanSize".to_string(), n(r.width_m)),
        ("SlowScanSize".to_string(), n(r.height_m)),
        ("ScanRate".to_string(), n(frame.line_rate_hz)),
        ("XOffset".to_string(), n(r.center_x_m)),
        ("YOffset".to_string(), n(r.center_y_m)),
        ("PointsLines".to_string(), frame.raster.points.to_string()),
        ("ScanPoints".to_string(), frame.raster.points.to_string()),
        ("ScanLines".to_string(), frame.raster.lines.to_string()),
        ("ScanAngle".to_string(), n(r.angle_deg)),
        ("FastRatio".to_string(), n(ratio(r.width_m))),
        ("SlowRatio".to_string(), n(ratio(r.height_m))),
    ];
    let mut units = BTreeMap::new();
    for ch in &frame.channels {
        if let Some(previous) = units.insert(ch.name.clone(), ch.unit.clone()) {
            if previous != ch.unit {
                return Err(IbwError::InvalidFrame(format!("channel {} has two units: {previous:?} and {:?}", ch.name, ch.unit)));
            }
        }
    }
    for (name, unit) in units {
        check_note_text(&format!("{name}Unit"), &unit)?;
        entries.push((format!("{name}Unit"), unit));
    }
    entries.push((KEY_INSTRUMENT_TIME.into(), n(frame.instrument_time_s)));
    entries.push((KEY_ACQUIRED_AT.into(), n(frame.acquired_at_unix_s)));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_into_name_and_direction() {
        assert_eq!(split_label("HeightRetrace"), ("Height".to_string(), ScanDirection::Retrace));
        assert_eq!(split_label("UserIn0Trace"), ("UserIn0".to_string(), ScanDirection::Trace));
        assert_eq!(split_label("ZSnsr"), ("ZSnsr".to_string(), ScanDirection::Trace));
        assert_eq!(split_label("Retrace"), ("Retrace".to_string(), ScanDirection::Trace));
        assert_eq!(split_label("FooTraceRetrace"), ("FooTrace".to_string(), ScanDirection::Retrace));
    }

    #[test]
    fn units_follow_note_then_asylum_then_wave() {
        let note = Note::parse("UserIn0Unit: V\rHeightUnit: nm\r");
        assert_eq!(channel_unit("UserIn0", &note, "m"), "V");
        assert_eq!(channel_unit("Height", &note, "m"), "nm");
        assert_eq!(channel_unit("Phase", &note, "m"), "deg");
        assert_eq!(channel_unit("Amplitude", &note, "m"), "m");
    }

    #[test]
    fn geometry_from_ratios_and_explicit_sizes() {
        let note = Note::parse("ScanSize: 4e-06\rFastRatio: 1\rSlowRatio: 0.5\rXOffset: 1e-06\rScanRate: 2.0032@Line: 12\r");
        let scan = AsylumScan::from_note(&note).ok().flatten();
        let scan = scan.map(|s| (s.region.width_m, s.region.height_m, s.region.center_x_m, s.line_rate_hz));
        assert_eq!(scan, Some((4e-6, 2e-6, 1e-6, Some(2.0032))));
        let explicit = Note::parse("ScanSize: 4e-06\rFastScanSize: 3e-06\rSlowScanSize: 1e-06\r");
        let r = AsylumScan::from_note(&explicit).ok().flatten().map(|s| (s.region.width_m, s.region.height_m));
        assert_eq!(r, Some((3e-6, 1e-6)));
        assert_eq!(AsylumScan::from_note(&Note::parse("Foo: 1")), Ok(None));
        let bad = AsylumScan::from_note(&Note::parse("ScanSize: big"));
        assert!(matches!(bad, Err(IbwError::BadNoteValue { ref key, .. }) if key == "ScanSize"), "{bad:?}");
        let negative = AsylumScan::from_note(&Note::parse("ScanSize: -1e-6"));
        assert!(matches!(negative, Err(IbwError::BadNoteValue { .. })));
    }
}
