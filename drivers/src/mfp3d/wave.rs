//! An Igor wave as the ZeroMQ-XOP serialises it (`SerializeWave.cpp`): `type`, `dimension.size`
//! (`delta`, `offset`, `unit` when not the defaults), `data.raw` in column-major order (`data.unit`),
//! `date.modification` (Unix seconds) and `note` — or, on the PUB socket, the same header as JSON with
//! the samples as raw little-endian bytes in the next frame. Decoded into an image and the geometry the
//! wave itself states (its scaling and its Asylum note), never the geometry that was requested.
//!
//! Numbers: an `NT_FP32` sample is printed by the XOP with `fmt`'s shortest round-trip form and
//! re-dumped by nlohmann::json with the same digits, so it is read back here with a direct decimal →
//! `f32` conversion (bit-exact); NaN and ±Inf travel as the strings `"nan"`, `"inf"`, `"-inf"`.

use crate::frame::{ChannelImage, ScanDirection};
use crate::geometry::{Raster, ScanRegion};
use crate::ibw::{channel_unit, AsylumScan, Note};
use ndarray::Array2;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use thiserror::Error;

/// Why a wave could not be turned into an image with a geometry.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum WaveError {
    /// The JSON is not a serialised wave.
    #[error("wave JSON: {0}")]
    Json(String),
    /// The wave is not a 2-D numeric image.
    #[error("wave is not a 2-D numeric image: type {kind}, dimension.size {dims:?}")]
    NotAnImage {
        /// `type`.
        kind: String,
        /// `dimension.size`.
        dims: Vec<usize>,
    },
    /// `data.raw` does not hold the samples the dimensions promise.
    #[error("wave data: {0}")]
    Data(String),
    /// Neither the note nor the scaling says where the wave lies.
    #[error("wave geometry: {0}")]
    Geometry(String),
}

/// `dimension` of a serialised wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    /// Step per index of each dimension (absent: all 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Vec<f64>>,
    /// Value at index 0 of each dimension (absent: all 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Vec<f64>>,
    /// Number of elements of each dimension.
    pub size: Vec<usize>,
    /// Unit of each dimension (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Vec<String>>,
}

/// `date` of a serialised wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveDate {
    /// Last modification, seconds since the Unix epoch (0 for a free wave).
    pub modification: i64,
}

/// The header of a wave: everything but the samples (what the PUB metadata frame carries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveHeader {
    /// Igor number type, e.g. `NT_FP32`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Sizes, scaling and units.
    pub dimension: Dimension,
    /// Unit of the values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_unit: Option<String>,
    /// Modification date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<WaveDate>,
    /// The wave note (Asylum's `Key: Value` lines, CR-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A decoded image wave.
#[derive(Debug, Clone, PartialEq)]
pub struct XopWave {
    /// Header.
    pub header: WaveHeader,
    /// Samples in column-major order (`p + l·P`), as `f32`.
    pub data: Vec<f32>,
}

#[derive(Deserialize)]
struct DataIn<'a> {
    #[serde(borrow)]
    raw: &'a RawValue,
    #[serde(default)]
    unit: Option<String>,
}

#[derive(Deserialize)]
struct WaveIn<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    data: DataIn<'a>,
    dimension: Dimension,
    #[serde(default)]
    date: Option<WaveDate>,
    #[serde(default)]
    note: Option<String>,
}

/// Metadata frame of a wave published on the PUB socket: which job and channel it is, then the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PubMeta {
    /// The job the frame belongs to.
    pub job: String,
    /// Asylum channel label, e.g. `HeightTrace`.
    pub channel: String,
    /// Running number of published layers (a gap shows as a jump).
    pub seq: u64,
    /// The wave header; the samples follow as raw little-endian `f32` in the next frame.
    pub wave: WaveHeader,
}

/// Topic (first frame) of the image layers afm-spark's Igor procedures publish.
pub const PUB_FRAME_TOPIC: &str = "afm-spark/frame";

fn special(text: &str) -> Option<f32> {
    match text.to_ascii_lowercase().as_str() {
        "nan" | "-nan" | "+nan" => Some(f32::NAN),
        "inf" | "+inf" | "infinity" => Some(f32::INFINITY),
        "-inf" | "-infinity" => Some(f32::NEG_INFINITY),
        _ => None,
    }
}

/// Parses `data.raw` (`[v, v, …]`, numbers or the strings nan/inf) into `f32`, reading `NT_FP32`
/// samples directly as `f32` (exact) and other numeric types through `f64`.
fn parse_raw(raw: &str, single: bool, expected: usize) -> Result<Vec<f32>, WaveError> {
    let body = raw.trim();
    let inner = body
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .ok_or_else(|| WaveError::Data(format!("data.raw is not an array: {}", &body[..body.len().min(40)])))?;
    let mut out = Vec::with_capacity(expected);
    if inner.trim().is_empty() {
        return Ok(out);
    }
    for (i, token) in inner.split(',').enumerate() {
        let t = token.trim();
        let v = if let Some(q) = t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            special(q).ok_or_else(|| WaveError::Data(format!("data.raw[{i}] = {t:?} is not a number")))?
        } else if single {
            t.parse::<f32>().map_err(|_| WaveError::Data(format!("data.raw[{i}] = {t:?} is not a number")))?
        } else {
            t.parse::<f64>().map_err(|_| WaveError::Data(format!("data.raw[{i}] = {t:?} is not a number")))? as f32
        };
        out.push(v);
    }
    Ok(out)
}

impl XopWave {
    /// Reads a wave as serialised in a reply's `result.value`. `null` (an invalid wave reference) is
    /// an error.
    pub fn from_json(text: &str) -> Result<Self, WaveError> {
        if text.trim() == "null" {
            return Err(WaveError::Json("the function returned an invalid wave reference (null)".into()));
        }
        let w: WaveIn<'_> = serde_json::from_str(text).map_err(|e| WaveError::Json(e.to_string()))?;
        let header = WaveHeader { kind: w.kind, dimension: w.dimension, data_unit: w.data.unit, date: w.date, note: w.note };
        let n = header.points()?;
        let data = parse_raw(w.data.raw.get(), header.kind == "NT_FP32", n)?;
        let wave = Self { header, data };
        wave.check_len()?;
        Ok(wave)
    }

    /// Reads a wave published as `[topic][meta JSON][raw bytes]` (raw little-endian `f32`, column-major).
    pub fn from_pub(meta: &PubMeta, bytes: &[u8]) -> Result<Self, WaveError> {
        if meta.wave.kind != "NT_FP32" {
            return Err(WaveError::NotAnImage { kind: meta.wave.kind.clone(), dims: meta.wave.dimension.size.clone() });
        }
        if bytes.len() % 4 != 0 {
            return Err(WaveError::Data(format!("{} raw bytes is not a whole number of f32 samples", bytes.len())));
        }
        let data = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let wave = Self { header: meta.wave.clone(), data };
        wave.check_len()?;
        Ok(wave)
    }

    fn check_len(&self) -> Result<(), WaveError> {
        let n = self.header.points()?;
        if self.data.len() != n {
            return Err(WaveError::Data(format!(
                "{} samples for dimension.size {:?} ({n} expected)",
                self.data.len(),
                self.header.dimension.size
            )));
        }
        Ok(())
    }

    /// Points per line and lines (the first two dimensions; a third must be 1).
    pub fn shape(&self) -> Result<(usize, usize), WaveError> {
        self.header.shape()
    }

    /// The image `[line, point]` (row 0 the first, bottom line).
    pub fn image(&self) -> Result<Array2<f32>, WaveError> {
        let (p, l) = self.shape()?;
        Array2::from_shape_vec((l, p), self.data.clone()).map_err(|e| WaveError::Data(e.to_string()))
    }

    /// The wave as a channel named after the Asylum `label` (e.g. `HeightRetrace`), unit from the note or
    /// the wave's data unit.
    pub fn channel(&self, label: &str) -> Result<ChannelImage, WaveError> {
        let (name, direction) = crate::ibw::split_label(label);
        let note = Note::parse(self.header.note.as_deref().unwrap_or(""));
        let unit = channel_unit(&name, &note, self.header.data_unit.as_deref().unwrap_or("m"));
        Ok(ChannelImage { name, direction, unit, data: self.image()? })
    }
}

/// Where a wave lies, from its own scaling and note.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveGeometry {
    /// The region scanned.
    pub region: ScanRegion,
    /// Points and lines.
    pub raster: Raster,
    /// Distance between points (x) and lines (y), metres.
    pub pitch_m: (f64, f64),
    /// `ScanRate` of the note, lines per second.
    pub line_rate_hz: Option<f64>,
    /// When note and scaling disagree: what they said (the scaling wins).
    pub disagreement: Option<String>,
}

impl WaveHeader {
    /// Number of samples the dimensions hold.
    pub fn points(&self) -> Result<usize, WaveError> {
        self.dimension
            .size
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n))
            .ok_or_else(|| WaveError::Data(format!("dimension.size {:?} overflows", self.dimension.size)))
    }

    /// Points per line and lines (the first two dimensions; a third must be 1).
    pub fn shape(&self) -> Result<(usize, usize), WaveError> {
        let numeric = matches!(self.kind.as_str(), "NT_FP32" | "NT_FP64" | "NT_I8" | "NT_I16" | "NT_I32" | "NT_I64")
            || (self.kind.ends_with("| NT_UNSIGNED") && !self.kind.contains("CMPLX"));
        match self.dimension.size.as_slice() {
            [p, l] | [p, l, 1] if numeric && *p > 0 && *l > 0 => Ok((*p, *l)),
            _ => Err(WaveError::NotAnImage { kind: self.kind.clone(), dims: self.dimension.size.clone() }),
        }
    }

    fn metric_scaling(&self) -> Option<[(f64, f64); 2]> {
        let units = self.dimension.unit.as_ref()?;
        if units.len() < 2 || units[0] != "m" || units[1] != "m" {
            return None;
        }
        let delta = self.dimension.delta.as_ref()?;
        let offset = self.dimension.offset.clone().unwrap_or_else(|| vec![0.0; delta.len()]);
        match (delta.as_slice(), offset.as_slice()) {
            ([dx, dy, ..], [ox, oy, ..]) if [dx, dy, ox, oy].iter().all(|v| v.is_finite()) => Some([(*dx, *ox), (*dy, *oy)]),
            _ => None,
        }
    }

    /// The geometry the wave states. Raster: the dimension sizes. Pitch: `dimension.delta` when the x and
    /// y units are metres (Asylum convention, first and last point on the region's edges, so
    /// size = pitch·(N − 1)); without metric scaling, the note's sizes ÷ (N − 1). Size: the note's
    /// (`FastScanSize`/`SlowScanSize`, else `ScanSize`·ratio, carried at full precision) when it agrees
    /// with the scaling to 1 ppm, else the scaling's, and the disagreement is reported. Centre and angle:
    /// the note's `XOffset`, `YOffset`, `ScanAngle`; without a note, the scaling's offsets (angle 0).
    pub fn geometry(&self) -> Result<WaveGeometry, WaveError> {
        let (p, l) = self.shape()?;
        let note = Note::parse(self.note.as_deref().unwrap_or(""));
        let scan = AsylumScan::from_note(&note).map_err(|e| WaveError::Geometry(format!("note: {e}")))?;
        let scaling = self.metric_scaling();
        let span = |pitch: f64, n: usize| pitch.abs() * n.saturating_sub(1) as f64;
        let mut disagreement = None;
        let (width_m, height_m) = match (&scan, scaling) {
            (Some(s), Some([(dx, _), (dy, _)])) => {
                let (sw, sh) = (span(dx, p), span(dy, l));
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(f64::MIN_POSITIVE);
                if close(sw, s.region.width_m) && close(sh, s.region.height_m) {
                    (s.region.width_m, s.region.height_m)
                } else {
                    disagreement = Some(format!(
                        "note says {:.6} × {:.6} µm, scaling says {:.6} × {:.6} µm (delta·(N − 1)); using the scaling",
                        s.region.width_m * 1e6,
                        s.region.height_m * 1e6,
                        sw * 1e6,
                        sh * 1e6
                    ));
                    (sw, sh)
                }
            }
            (None, Some([(dx, _), (dy, _)])) => (span(dx, p), span(dy, l)),
            (Some(s), None) => (s.region.width_m, s.region.height_m),
            (None, None) => {
                return Err(WaveError::Geometry("neither an Asylum note (ScanSize) nor x/y scaling in metres".into()));
            }
        };
        let region = match (&scan, scaling) {
            (Some(s), _) => ScanRegion { width_m, height_m, ..s.region },
            (None, Some([(_, ox), (_, oy)])) => {
                ScanRegion { center_x_m: ox + width_m / 2.0, center_y_m: oy + height_m / 2.0, width_m, height_m, angle_deg: 0.0 }
            }
            (None, None) => return Err(WaveError::Geometry("no geometry".into())),
        };
        let raster = Raster::new(p, l);
        Ok(WaveGeometry { pitch_m: region.pitch_m(&raster), region, raster, line_rate_hz: scan.and_then(|s| s.line_rate_hz), disagreement })
    }
}

// ---- writing waves the way the XOP does (the fake server) ---------------------------------------

/// An `f32` sample as the XOP writes it: a number, or `"nan"`/`"inf"`/`"-inf"`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample(pub f32);

impl Serialize for Sample {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("nan")
        } else if v.is_infinite() {
            s.serialize_str(if v > 0.0 { "inf" } else { "-inf" })
        } else {
            s.serialize_f32(v)
        }
    }
}

#[derive(Serialize)]
struct DataOut<'a> {
    raw: &'a [Sample],
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
}

/// A wave in the XOP's layout (keys in nlohmann's alphabetical order).
#[derive(Serialize)]
pub(crate) struct WaveOut<'a> {
    data: DataOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<&'a WaveDate>,
    dimension: &'a Dimension,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
}

impl<'a> WaveOut<'a> {
    /// A view of `header` and `samples` for serialising.
    pub(crate) fn new(header: &'a WaveHeader, samples: &'a [Sample]) -> Self {
        Self {
            data: DataOut { raw: samples, unit: header.data_unit.as_deref() },
            date: header.date.as_ref(),
            dimension: &header.dimension,
            note: header.note.as_deref(),
            kind: &header.kind,
        }
    }
}

/// nlohmann::json's layout of a finite double from its shortest digits: fixed for decimal exponents in
/// −4 < n ≤ 15 (with `.0` for integral values), else `d.ddde±XX`.
fn nlohmann_layout(digits: &str, exp10: i32, negative: bool) -> String {
    let k = digits.len() as i32;
    let n = k + exp10; // position of the decimal point relative to the digits
    let mut s = String::with_capacity(k as usize + 8);
    if negative {
        s.push('-');
    }
    if k <= n && n <= 15 {
        s.push_str(digits);
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
        s.push_str(".0");
    } else if 0 < n && n <= 15 {
        s.push_str(&digits[..n as usize]);
        s.push('.');
        s.push_str(&digits[n as usize..]);
    } else if -4 < n && n <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-n) as usize));
        s.push_str(digits);
    } else {
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        let e = n - 1;
        s.push('e');
        s.push(if e < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", e.abs()));
    }
    s
}

/// Shortest round-trip digits and decimal exponent of `{:e}` output, e.g. "1.25e-7" → ("125", -9).
fn digits_of(e_form: &str) -> (bool, String, i32) {
    let negative = e_form.starts_with('-');
    let body = e_form.trim_start_matches('-');
    let (mantissa, exp) = body.split_once('e').unwrap_or((body, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    (negative, digits, exp - frac.len() as i32)
}

/// How the XOP writes an `NT_FP32` sample: `fmt` prints the shortest digits (integral values without a
/// fraction, which nlohmann then keeps as an integer), nlohmann re-dumps them in its layout.
pub(crate) fn xop_f32_text(v: f32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e16 {
        return format!("{}", v as i64);
    }
    let (neg, digits, exp) = digits_of(&format!("{v:e}"));
    nlohmann_layout(&digits, exp, neg)
}

/// How nlohmann::json writes a double.
pub(crate) fn xop_f64_text(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let (neg, digits, exp) = digits_of(&format!("{v:e}"));
    nlohmann_layout(&digits, exp, neg)
}

/// serde_json's pretty printer with an indent of 4 (nlohmann's `dump(4)`) and the XOP's number forms.
pub(crate) struct XopFormatter(serde_json::ser::PrettyFormatter<'static>);

impl XopFormatter {
    /// A formatter for one document.
    pub(crate) fn new() -> Self {
        Self(serde_json::ser::PrettyFormatter::with_indent(b"    "))
    }
}

impl serde_json::ser::Formatter for XopFormatter {
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        w.write_all(xop_f32_text(v).as_bytes())
    }
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        w.write_all(xop_f64_text(v).as_bytes())
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// `value` as the XOP would send it: pretty-printed (indent 4) with its number forms.
pub(crate) fn to_xop_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, XopFormatter::new());
    value.serialize(&mut ser)?;
    Ok(out)
}

/// The header and samples of a channel of a frame scanned over `region` with `raster`, the way Asylum
/// stores an image layer: x/y scaling in metres with pitch = size/(N − 1) and offset at the first
/// point, the data unit, and `note`.
pub(crate) fn channel_wave(
    channel: &ChannelImage,
    region: &ScanRegion,
    raster: &Raster,
    note: String,
    modification_unix_s: i64,
) -> (WaveHeader, Vec<Sample>) {
    let (px, py) = region.pitch_m(raster);
    let header = WaveHeader {
        kind: "NT_FP32".into(),
        dimension: Dimension {
            delta: Some(vec![px, py]),
            offset: Some(vec![region.center_x_m - region.width_m / 2.0, region.center_y_m - region.height_m / 2.0]),
            size: vec![raster.points, raster.lines],
            unit: Some(vec!["m".into(), "m".into()]),
        },
        data_unit: Some(channel.unit.clone()),
        date: Some(WaveDate { modification: modification_unix_s }),
        note: Some(note),
    };
    // [line, point] row-major is column-major [point, line]: the same order.
    let samples = channel.data.iter().map(|&v| Sample(v)).collect();
    (header, samples)
}

/// Asylum's label of a channel: name + Trace/Retrace.
pub fn label(name: &str, direction: ScanDirection) -> String {
    format!("{name}{}", direction.suffix())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_like_the_xop_and_read_back_bit_exactly() {
        assert_eq!(xop_f32_text(1.25e-9), "1.25e-09");
        assert_eq!(xop_f32_text(-3.5), "-3.5");
        assert_eq!(xop_f32_text(5.0), "5");
        assert_eq!(xop_f32_text(0.000123), "0.000123");
        assert_eq!(xop_f64_text(1e20), "1e+20");
        assert_eq!(xop_f64_text(2.0), "2.0");
        assert_eq!(xop_f64_text(7.8125e-9), "7.8125e-09");
        let vals: Vec<f32> = (0..2000).map(|i| ((i as f32) * 0.7311).sin() * 3.3e-9 + (i as f32) * 1e-12).collect();
        let text = format!("[{}]", vals.iter().map(|v| xop_f32_text(*v)).collect::<Vec<_>>().join(",\n    "));
        let back = parse_raw(&text, true, vals.len()).unwrap();
        assert!(vals.iter().zip(&back).all(|(a, b)| a.to_bits() == b.to_bits()));
        let specials = parse_raw(r#"["nan", "-inf", "INF", 1]"#, true, 4).unwrap();
        assert!(specials[0].is_nan() && specials[1] == f32::NEG_INFINITY && specials[2] == f32::INFINITY && specials[3] == 1.0);
        assert!(parse_raw("[1, x]", true, 2).is_err());
    }

    #[test]
    fn geometry_comes_from_note_and_scaling_not_the_request() {
        let region = ScanRegion { center_x_m: 1e-6, center_y_m: -2e-6, width_m: 3e-6, height_m: 1.5e-6, angle_deg: 10.0 };
        let raster = Raster::new(8, 4);
        let ch = ChannelImage {
            name: "Height".into(),
            direction: ScanDirection::Retrace,
            unit: "m".into(),
            data: Array2::from_shape_fn((4, 8), |(l, p)| (l * 8 + p) as f32 * 1e-9),
        };
        let note =
            "ScanSize: 3e-6\rFastScanSize: 3e-6\rSlowScanSize: 1.5e-6\rXOffset: 1e-6\rYOffset: -2e-6\rScanAngle: 10\rScanRate: 2.5\r";
        let (header, samples) = channel_wave(&ch, &region, &raster, note.into(), 1_700_000_000);
        let value = WaveOut::new(&header, &samples);
        let text = String::from_utf8(to_xop_json(&value).unwrap()).unwrap();
        assert!(text.starts_with("{\n    \"data\": {\n        \"raw\": [\n"), "{text}");
        let wave = XopWave::from_json(&text).unwrap();
        let g = wave.header.geometry().unwrap();
        assert_eq!(g.region, region);
        assert_eq!(g.raster, raster);
        assert_eq!(g.line_rate_hz, Some(2.5));
        assert!(g.disagreement.is_none());
        assert_eq!(wave.channel("HeightRetrace").unwrap(), ch);

        // A note that disagrees with the scaling: the scaling wins and the disagreement is reported.
        let mut h2 = header.clone();
        h2.note = Some(note.replace("FastScanSize: 3e-6", "FastScanSize: 2e-6"));
        let g2 = h2.geometry().unwrap();
        assert!((g2.region.width_m - 3e-6).abs() < 1e-15 && g2.disagreement.is_some());
        // No note: centre from the scaling offsets.
        let mut h3 = header;
        h3.note = None;
        let g3 = h3.geometry().unwrap();
        assert!((g3.region.center_x_m - 1e-6).abs() < 1e-15 && g3.region.angle_deg == 0.0);
        h3.dimension.unit = None;
        assert!(h3.geometry().is_err());
    }
}
