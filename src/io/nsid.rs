//! pyNSID HDF5 files — the layout SciFiReaders writes and the DTMicroscope digital twin reads:
//!
//! ```text
//! /Measurement_000/Channel_k/            group
//!     Channel_k/                         group (attrs: machine_id, platform, timestamp, …)
//!         Channel_k                      float32 [x, y] image; attrs quantity (e.g. "HeightRetrace"),
//!                                        units, data_type = "IMAGE", main_data_name, modality, source,
//!                                        DIMENSION_LABELS = ["x", "y"], DIMENSION_LIST
//!         x, y                           float64 dimension scales in metres (CLASS, NAME,
//!                                        REFERENCE_LIST, name, quantity, units, dimension_type)
//!         original_metadata/             group whose attributes hold the Asylum note
//! ```
//!
//! Axis 0 of an image is x (points along a line), axis 1 is y (lines): we transpose on reading and
//! writing so that [`NsidChannel::data`] is `[line, point]` like every image in afm-spark. (A dataset
//! labelled `["y", "x"]` is read without the transpose.)
//!
//! Attribute values keep their HDF5 type class ([`AttrValue`]): integers, floats and strings read from
//! a file are written back as 64-bit integers, 64-bit floats and variable-length UTF-8 strings — what
//! pyNSID/h5py write — so a file read and written again holds the same data, scales and attributes.
//! Structural attributes (`DIMENSION_LIST`, `DIMENSION_LABELS`, `CLASS`, `NAME`, `REFERENCE_LIST`)
//! are rebuilt by the writer, not copied, exactly as HDF5's dimension-scale API (`H5DSset_scale`,
//! `H5DSattach_scale`) writes them — pyNSID's reader asks HDF5 for the scale names
//! (`dset.dims[i].keys()`), which only works when `CLASS` is a NUL-terminated fixed-length string.

use super::{FileFormat, IoError, LoadedFile, DEFAULT_PIXEL_PITCH_M};
use afm_drivers::ibw::{format_number, split_label, AsylumScan, Note};
use afm_drivers::{ChannelImage, Frame, Raster, ScanRegion};
use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenArray, VarLenAscii, VarLenUnicode};
use hdf5::{Attribute, Dataset, File, Group, Location, ObjectReference1};
use ndarray::Array2;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

/// Name of the measurement group our writer creates.
pub const MEASUREMENT_GROUP: &str = "Measurement_000";

/// The pyNSID version whose layout we write (the one that wrote the DTMicroscope data); its reader
/// requires a `pyNSID_version` attribute on every image.
pub const PYNSID_LAYOUT_VERSION: &str = "0.0.7.2";

/// One HDF5 attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A signed integer (any width on reading; written as int64).
    Int(i64),
    /// An unsigned integer (written as uint64).
    UInt(u64),
    /// A float (written as float64).
    Float(f64),
    /// A boolean (HDF5 enum).
    Bool(bool),
    /// A string (fixed or variable length on reading; written as variable-length UTF-8).
    Str(String),
    /// A 1-D array of signed integers.
    IntArray(Vec<i64>),
    /// A 1-D array of unsigned integers.
    UIntArray(Vec<u64>),
    /// A 1-D array of floats.
    FloatArray(Vec<f64>),
    /// A 1-D array of strings.
    StrArray(Vec<String>),
}

impl AttrValue {
    /// The value as SciFiReaders stores an Asylum note value: integer if the text is a whole
    /// number, float if it is a number, else the text.
    pub fn from_text(text: &str) -> Self {
        if let Ok(i) = text.parse::<i64>() {
            return AttrValue::Int(i);
        }
        match text.parse::<f64>() {
            Ok(f) => AttrValue::Float(f),
            Err(_) => AttrValue::Str(text.to_string()),
        }
    }

    /// The value as text (numbers in a form that parses back exactly; arrays comma-separated).
    pub fn to_text(&self) -> String {
        fn join<T>(v: &[T], f: impl Fn(&T) -> String) -> String {
            v.iter().map(f).collect::<Vec<_>>().join(", ")
        }
        match self {
            AttrValue::Int(v) => v.to_string(),
            AttrValue::UInt(v) => v.to_string(),
            AttrValue::Float(v) => format_number(*v),
            AttrValue::Bool(v) => v.to_string(),
            AttrValue::Str(s) => s.clone(),
            AttrValue::IntArray(v) => join(v, i64::to_string),
            AttrValue::UIntArray(v) => join(v, u64::to_string),
            AttrValue::FloatArray(v) => join(v, |x| format_number(*x)),
            AttrValue::StrArray(v) => join(v, String::clone),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Attributes by name.
pub type Attrs = BTreeMap<String, AttrValue>;

/// A dimension scale: the coordinate of every index along one image axis.
#[derive(Debug, Clone, PartialEq)]
pub struct NsidScale {
    /// Dataset name and dimension label, e.g. "x".
    pub name: String,
    /// Coordinates, in the scale's `units` attribute (pyNSID writes metres).
    pub values: Vec<f64>,
    /// Its attributes (name, quantity, units, dimension_type, …), structural ones excluded.
    pub attrs: Attrs,
}

/// One IMAGE channel of a pyNSID file.
#[derive(Debug, Clone, PartialEq)]
pub struct NsidChannel {
    /// The `quantity` attribute: the Asylum label, e.g. "HeightRetrace".
    pub quantity: String,
    /// The `units` attribute of the values, e.g. "m".
    pub units: String,
    /// Values `[line, point]` = `[y, x]` (the file stores `[x, y]`).
    pub data: Array2<f32>,
    /// Scale along the points of a line (file axis 0).
    pub x: NsidScale,
    /// Scale along the lines (file axis 1).
    pub y: NsidScale,
    /// Other attributes of the image dataset (data_type, main_data_name, modality, source, …).
    pub attrs: Attrs,
    /// Attributes of the group holding the dataset (machine_id, platform, timestamp, …).
    pub group_attrs: Attrs,
    /// Attributes of the sibling `original_metadata` group (the Asylum note).
    pub original_metadata: Attrs,
}

/// Which channel to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSelector<'a> {
    /// The k-th IMAGE dataset in file order (Channel_0, Channel_1, … in natural order).
    Index(usize),
    /// The first IMAGE dataset whose `quantity` is this, e.g. "HeightRetrace".
    Quantity(&'a str),
}

/// Largest image or scale we read, in values (2^28: a 16384² image is 2^28). HDF5 datasets can
/// declare storage they do not hold (fill values), so a tiny corrupt file could otherwise make us
/// allocate terabytes.
const MAX_VALUES: usize = 1 << 28;

/// `Err(Shape)` if `ds` declares more than [`MAX_VALUES`] values.
fn check_size(path: &Path, ds: &Dataset) -> Result<(), IoError> {
    if ds.size() > MAX_VALUES {
        return Err(IoError::Shape {
            path: path.to_path_buf(),
            what: format!("dataset {}", ds.name()),
            found: ds.shape(),
            expected: format!("at most {MAX_VALUES} values"),
        });
    }
    Ok(())
}

const STRUCTURAL: [&str; 5] = ["DIMENSION_LIST", "DIMENSION_LABELS", "CLASS", "NAME", "REFERENCE_LIST"];

// ---------------------------------------------------------------------------------------------
// Attributes

/// Reads one attribute; `Ok(None)` for types we do not carry (compound, references, enums other
/// than bool, multi-dimensional arrays).
fn read_attr(attr: &Attribute) -> hdf5::Result<Option<AttrValue>> {
    let desc = attr.dtype()?.to_descriptor()?;
    let shape = attr.shape();
    let scalar = shape.is_empty();
    if shape.len() > 1 {
        return Ok(None);
    }
    fn strings<T: hdf5::H5Type + AsRef<str>>(attr: &Attribute, scalar: bool) -> hdf5::Result<AttrValue> {
        Ok(if scalar {
            AttrValue::Str(attr.read_scalar::<T>()?.as_ref().to_string())
        } else {
            AttrValue::StrArray(attr.read_raw::<T>()?.iter().map(|s| s.as_ref().to_string()).collect())
        })
    }
    Ok(Some(match desc {
        TypeDescriptor::Integer(_) if scalar => AttrValue::Int(attr.read_scalar::<i64>()?),
        TypeDescriptor::Integer(_) => AttrValue::IntArray(attr.read_raw::<i64>()?),
        TypeDescriptor::Unsigned(_) if scalar => AttrValue::UInt(attr.read_scalar::<u64>()?),
        TypeDescriptor::Unsigned(_) => AttrValue::UIntArray(attr.read_raw::<u64>()?),
        TypeDescriptor::Float(_) if scalar => AttrValue::Float(attr.read_scalar::<f64>()?),
        TypeDescriptor::Float(_) => AttrValue::FloatArray(attr.read_raw::<f64>()?),
        TypeDescriptor::Boolean if scalar => AttrValue::Bool(attr.read_scalar::<bool>()?),
        TypeDescriptor::VarLenUnicode => strings::<VarLenUnicode>(attr, scalar)?,
        TypeDescriptor::VarLenAscii => strings::<VarLenAscii>(attr, scalar)?,
        TypeDescriptor::FixedAscii(n) if n <= 1024 => strings::<FixedAscii<1024>>(attr, scalar)?,
        TypeDescriptor::FixedUnicode(n) if n <= 1024 => strings::<FixedUnicode<1024>>(attr, scalar)?,
        _ => return Ok(None),
    }))
}

/// All attributes of `loc` we can carry, except the structural ones. An attribute that cannot be
/// read is skipped with a warning (it cannot be written back either).
fn read_attrs(loc: &Location) -> hdf5::Result<Attrs> {
    let mut out = Attrs::new();
    for name in loc.attr_names()? {
        if STRUCTURAL.contains(&name.as_str()) {
            continue;
        }
        match loc.attr(&name).and_then(|a| read_attr(&a)) {
            Ok(Some(v)) => {
                out.insert(name, v);
            }
            Ok(None) => tracing::debug!("{}: attribute {name} has a type we do not carry", loc.name()),
            Err(e) => tracing::warn!("{}: attribute {name} unreadable: {e}", loc.name()),
        }
    }
    Ok(out)
}

fn vlen_unicode(s: &str) -> hdf5::Result<VarLenUnicode> {
    VarLenUnicode::from_str(s).map_err(|e| hdf5::Error::from(format!("string {s:?}: {e}")))
}

/// Writes one attribute (replacing none: the caller creates fresh objects).
pub fn write_attr(loc: &Location, name: &str, value: &AttrValue) -> hdf5::Result<()> {
    match value {
        AttrValue::Int(v) => loc.new_attr::<i64>().create(name)?.write_scalar(v),
        AttrValue::UInt(v) => loc.new_attr::<u64>().create(name)?.write_scalar(v),
        AttrValue::Float(v) => loc.new_attr::<f64>().create(name)?.write_scalar(v),
        AttrValue::Bool(v) => loc.new_attr::<bool>().create(name)?.write_scalar(v),
        AttrValue::Str(s) => loc.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&vlen_unicode(s)?),
        AttrValue::IntArray(v) => loc.new_attr::<i64>().shape(v.len()).create(name)?.write_raw(v),
        AttrValue::UIntArray(v) => loc.new_attr::<u64>().shape(v.len()).create(name)?.write_raw(v),
        AttrValue::FloatArray(v) => loc.new_attr::<f64>().shape(v.len()).create(name)?.write_raw(v),
        AttrValue::StrArray(v) => {
            let s = v.iter().map(|s| vlen_unicode(s)).collect::<hdf5::Result<Vec<_>>>()?;
            loc.new_attr::<VarLenUnicode>().shape(s.len()).create(name)?.write_raw(&s)
        }
    }
}

fn write_attrs(loc: &Location, attrs: &Attrs) -> hdf5::Result<()> {
    attrs.iter().filter(|(k, _)| !STRUCTURAL.contains(&k.as_str())).try_for_each(|(k, v)| write_attr(loc, k, v))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Splits a name into text and number runs so that Channel_2 sorts before Channel_10.
fn natural_key(name: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut chars = name.chars().peekable();
    while chars.peek().is_some() {
        let text: String = std::iter::from_fn(|| chars.next_if(|c| !c.is_ascii_digit())).collect();
        let digits: String = std::iter::from_fn(|| chars.next_if(char::is_ascii_digit)).collect();
        key.push((text, digits.parse().unwrap_or(0)));
    }
    key
}

fn is_image(ds: &Dataset) -> bool {
    ds.ndim() == 2
        && ds
            .attr("data_type")
            .ok()
            .and_then(|a| read_attr(&a).ok().flatten())
            .and_then(|v| v.as_str().map(|s| s.eq_ignore_ascii_case("IMAGE")))
            .unwrap_or(false)
}

/// Every IMAGE dataset under `group` with the group holding it, depth first in natural name order.
fn find_images(group: &Group, depth: usize, out: &mut Vec<(Group, Dataset)>) -> hdf5::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    let mut datasets = group.datasets()?;
    datasets.sort_by_key(|d| natural_key(&d.name()));
    out.extend(datasets.into_iter().filter(is_image).map(|d| (group.clone(), d)));
    let mut groups = group.groups()?;
    groups.sort_by_key(|g| natural_key(&g.name()));
    for g in groups.iter().filter(|g| !g.name().ends_with("/original_metadata")) {
        find_images(g, depth + 1, out)?;
    }
    Ok(())
}

fn open(path: &Path) -> Result<File, IoError> {
    if std::fs::metadata(path).map_err(|e| IoError::os(path, "cannot open", e))?.len() == 0 {
        return Err(IoError::Empty { path: path.to_path_buf() });
    }
    File::open(path).map_err(|e| IoError::hdf5(path, "cannot open as HDF5", e))
}

fn read_scale(path: &Path, parent: &Group, name: &str, len: usize, image: &str) -> Result<NsidScale, IoError> {
    let ds = parent
        .dataset(name)
        .map_err(|_| IoError::nsid(path, format!("no dimension scale {name:?} next to {image}")))?;
    check_size(path, &ds)?;
    let values = ds.read_raw::<f64>().map_err(|e| IoError::hdf5(path, format!("reading scale {}", ds.name()), e))?;
    if ds.ndim() != 1 || values.len() != len {
        return Err(IoError::Shape {
            path: path.to_path_buf(),
            what: format!("dimension scale {}", ds.name()),
            found: ds.shape(),
            expected: format!("[{len}], the length of that axis of {image}"),
        });
    }
    let attrs = read_attrs(&ds).map_err(|e| IoError::hdf5(path, format!("reading attributes of {}", ds.name()), e))?;
    Ok(NsidScale { name: name.to_string(), values, attrs })
}

fn read_image(path: &Path, parent: &Group, ds: &Dataset) -> Result<NsidChannel, IoError> {
    let name = ds.name();
    let h5 = |what: &str| {
        let what = format!("{what} {name}");
        move |e| IoError::hdf5(path, what, e)
    };
    check_size(path, ds)?;
    let raw = ds.read_2d::<f32>().map_err(h5("reading"))?;
    let mut attrs = read_attrs(ds).map_err(h5("reading attributes of"))?;
    let labels = match ds.attr("DIMENSION_LABELS").ok().and_then(|a| read_attr(&a).ok().flatten()) {
        Some(AttrValue::StrArray(l)) if l.len() == 2 && l.iter().all(|s| !s.is_empty()) => l,
        _ => vec!["x".to_string(), "y".to_string()],
    };
    let y_first = labels[0].eq_ignore_ascii_case("y") && labels[1].eq_ignore_ascii_case("x");
    let (x_label, y_label) = if y_first { (&labels[1], &labels[0]) } else { (&labels[0], &labels[1]) };
    let data = if y_first { raw } else { raw.t().as_standard_layout().into_owned() };
    let (lines, points) = data.dim();
    let x = read_scale(path, parent, x_label, points, &name)?;
    let y = read_scale(path, parent, y_label, lines, &name)?;
    let take_str = |attrs: &mut Attrs, key: &str| attrs.remove(key).map(|v| v.to_text());
    let quantity = take_str(&mut attrs, "quantity").unwrap_or_else(|| name.rsplit('/').next().unwrap_or("").to_string());
    let units = take_str(&mut attrs, "units").unwrap_or_default();
    let group_attrs = read_attrs(parent).map_err(h5("reading attributes of the group of"))?;
    let original_metadata = match parent.group("original_metadata") {
        Ok(g) => read_attrs(&g).map_err(h5("reading original_metadata next to"))?,
        Err(_) => Attrs::new(),
    };
    Ok(NsidChannel { quantity, units, data, x, y, attrs, group_attrs, original_metadata })
}

/// Every IMAGE channel of a pyNSID file, in file order.
pub fn read_channels(path: &Path) -> Result<Vec<NsidChannel>, IoError> {
    let file = open(path)?;
    let mut images = Vec::new();
    find_images(&file, 0, &mut images).map_err(|e| IoError::hdf5(path, "listing groups and datasets", e))?;
    if images.is_empty() {
        return Err(IoError::nsid(path, "no 2-D dataset with data_type = \"IMAGE\""));
    }
    images.iter().map(|(group, ds)| read_image(path, group, ds)).collect()
}

/// One IMAGE channel, by index or `quantity`.
pub fn read_channel(path: &Path, which: ChannelSelector) -> Result<NsidChannel, IoError> {
    let channels = read_channels(path)?;
    let available = || channels.iter().map(|c| c.quantity.clone()).collect::<Vec<_>>();
    let found = match which {
        ChannelSelector::Index(k) => channels.get(k),
        ChannelSelector::Quantity(q) => channels.iter().find(|c| c.quantity == q),
    };
    match found {
        Some(c) => Ok(c.clone()),
        None => Err(IoError::NoSuchChannel {
            path: path.to_path_buf(),
            wanted: match which {
                ChannelSelector::Index(k) => format!("#{k}"),
                ChannelSelector::Quantity(q) => q.to_string(),
            },
            available: available(),
        }),
    }
}

/// Metres per unit of a length unit name; `None` for anything else.
fn metres_per(unit: &str) -> Option<f64> {
    match unit {
        "m" => Some(1.0),
        "mm" => Some(1e-3),
        "um" | "µm" | "μm" => Some(1e-6),
        "nm" => Some(1e-9),
        "pm" => Some(1e-12),
        _ => None,
    }
}

/// Region from a channel's x/y scales, if they are in a length unit and span the image.
fn region_from_scales(ch: &NsidChannel) -> Option<ScanRegion> {
    let extent = |s: &NsidScale| {
        let unit = s.attrs.get("units").and_then(AttrValue::as_str).unwrap_or("m");
        let k = metres_per(unit)?;
        let (first, last) = (*s.values.first()?, *s.values.last()?);
        (first.is_finite() && last.is_finite()).then_some((first * k, last * k))
    };
    let ((x0, x1), (y0, y1)) = (extent(&ch.x)?, extent(&ch.y)?);
    Some(ScanRegion {
        center_x_m: (x0 + x1) / 2.0,
        center_y_m: (y0 + y1) / 2.0,
        width_m: (x1 - x0).abs(),
        height_m: (y1 - y0).abs(),
        angle_deg: 0.0,
    })
}

/// Builds a frame from channels read from `path`: every channel must have the first one's shape.
/// Geometry and rate from the first channel's `original_metadata` when it holds Asylum keys
/// (`ScanSize`, `XOffset`, …, the same rules as `.ibw` notes), else from its x/y scales when they
/// are in a length unit, else [`DEFAULT_PIXEL_PITCH_M`] (returned flag false). Also returns the
/// first channel's `original_metadata` as text.
pub fn frame_from_channels(
    path: &Path,
    channels: &[NsidChannel],
) -> Result<(Frame, BTreeMap<String, String>, bool), IoError> {
    let first = channels.first().ok_or_else(|| IoError::nsid(path, "no IMAGE channel"))?;
    let (lines, points) = first.data.dim();
    let mut images = Vec::with_capacity(channels.len());
    for ch in channels {
        if ch.data.dim() != (lines, points) {
            return Err(IoError::Shape {
                path: path.to_path_buf(),
                what: format!("channel {}", ch.quantity),
                found: vec![ch.data.dim().1, ch.data.dim().0],
                expected: format!("[{points}, {lines}] like {}", first.quantity),
            });
        }
        let (name, direction) = split_label(&ch.quantity);
        images.push(ChannelImage { name, direction, unit: ch.units.clone(), data: ch.data.clone() });
    }
    let metadata: BTreeMap<String, String> =
        first.original_metadata.iter().map(|(k, v)| (k.clone(), v.to_text())).collect();
    let note = Note::from_pairs(&metadata);
    let scan = AsylumScan::from_note(&note).map_err(|e| IoError::nsid(path, format!("original_metadata: {e}")))?;
    let (region, known) = match (&scan, region_from_scales(first)) {
        (Some(s), _) => (s.region, true),
        (None, Some(r)) => (r, true),
        (None, None) => {
            let span = |n: usize| DEFAULT_PIXEL_PITCH_M * n.saturating_sub(1) as f64;
            (ScanRegion { width_m: span(points), height_m: span(lines), ..ScanRegion::square(0.0, 0.0, 0.0) }, false)
        }
    };
    let line_rate_hz = scan.as_ref().and_then(|s| s.line_rate_hz).unwrap_or(0.0);
    let instrument_time_s = scan.as_ref().and_then(|s| s.instrument_time_s).unwrap_or(if line_rate_hz > 0.0 {
        lines as f64 / line_rate_hz
    } else {
        0.0
    });
    let acquired_at_unix_s = scan.as_ref().and_then(|s| s.acquired_at_unix_s).unwrap_or(0.0);
    let frame = Frame {
        region,
        raster: Raster::new(points, lines),
        line_rate_hz,
        channels: images,
        instrument_time_s,
        acquired_at_unix_s,
    };
    Ok((frame, metadata, known))
}

/// Reads a pyNSID file for [`load`](super::load): every IMAGE channel, see [`frame_from_channels`].
pub fn read_file(path: &Path) -> Result<LoadedFile, IoError> {
    let channels = read_channels(path)?;
    let (frame, metadata, geometry_known) = frame_from_channels(path, &channels)?;
    Ok(LoadedFile { path: path.to_path_buf(), format: FileFormat::Nsid, frame, metadata, geometry_known })
}

// ---------------------------------------------------------------------------------------------
// Writing

/// `REFERENCE_LIST` entry of a dimension scale: which dataset uses it, along which axis.
#[derive(hdf5::H5Type, Clone, Copy, Debug)]
#[repr(C)]
struct ScaleUse {
    dataset: ObjectReference1,
    dimension: u32,
}

/// A fixed-length string type of `size` bytes, NUL-terminated (`H5T_STR_NULLTERM`), as
/// `H5DSset_scale` writes `CLASS` and `NAME`. The hdf5 crate only makes NUL-padded fixed strings,
/// which HDF5's `H5DSis_scale` rejects (then h5py's `dims[i].keys()` and pyNSID's reader fail).
#[allow(unsafe_code)]
fn nul_terminated_string_type(size: usize) -> hdf5::Result<hdf5::Datatype> {
    use hdf5_sys::h5t::{H5T_str_t, H5Tcopy, H5Tset_size, H5Tset_strpad, H5T_C_S1};
    hdf5::sync::sync(|| {
        // SAFETY: calls into the HDF5 C library under the hdf5 crate's global lock (the library is
        // initialised: a file is open). H5Tcopy returns a new datatype id, or a negative id that
        // `from_id` rejects; `from_id` takes ownership, so the id is closed when the Datatype drops.
        unsafe {
            let id = H5Tcopy(*H5T_C_S1);
            let dtype: hdf5::Datatype = hdf5::from_id(id)?;
            if H5Tset_size(id, size) < 0 || H5Tset_strpad(id, H5T_str_t::H5T_STR_NULLTERM) < 0 {
                return Err(hdf5::Error::from("cannot set the size and padding of a string type"));
            }
            Ok(dtype)
        }
    })
}

/// Writes the ASCII string `value` as a scalar NUL-terminated fixed-length string attribute.
fn write_c_string_attr(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    let dtype = nul_terminated_string_type(value.len() + 1)?;
    let attr = loc.new_attr_builder().empty_as(&dtype).create(name)?;
    let text = FixedAscii::<256>::from_ascii(value).map_err(|e| hdf5::Error::from(format!("{value:?}: {e}")))?;
    attr.write_scalar(&text)
}

fn str_attr(s: &str) -> AttrValue {
    AttrValue::Str(s.to_string())
}

/// Writes `channel` as `parent/<name>/<name>` with its scales and `original_metadata`, in the
/// layout above. `parent` is usually `/Measurement_000` and `name` `Channel_<k>`; a session file
/// can use this to store e.g. a ground-truth image in pyNSID form inside its own groups.
/// Missing attributes that pyNSID's reader requires are filled in: data_type "IMAGE",
/// main_data_name (the quantity), modality "AFM", source "afm-spark", pyNSID_version; on the scales
/// name, quantity, units "m", dimension_type "SPATIAL".
pub fn write_channel_in(parent: &Group, name: &str, channel: &NsidChannel) -> hdf5::Result<()> {
    let g = parent.create_group(name)?.create_group(name)?;
    write_attrs(&g, &channel.group_attrs)?;
    let xy = channel.data.t().as_standard_layout().into_owned();
    let ds = g.new_dataset_builder().with_data(&xy).create(name)?;
    let mut attrs = channel.attrs.clone();
    attrs.insert("quantity".into(), str_attr(&channel.quantity));
    attrs.insert("units".into(), str_attr(&channel.units));
    let required = [
        ("data_type", "IMAGE"),
        ("main_data_name", channel.quantity.as_str()),
        ("modality", "AFM"),
        ("source", "afm-spark"),
        ("pyNSID_version", PYNSID_LAYOUT_VERSION),
    ];
    for (k, v) in required {
        attrs.entry(k.to_string()).or_insert_with(|| str_attr(v));
    }
    write_attrs(&ds, &attrs)?;
    let labels = [&channel.x.name, &channel.y.name]
        .iter()
        .map(|s| VarLenAscii::from_ascii(s.as_str()).map_err(|e| hdf5::Error::from(format!("scale name {s:?}: {e}"))))
        .collect::<hdf5::Result<Vec<_>>>()?;
    ds.new_attr::<VarLenAscii>().shape(2).create("DIMENSION_LABELS")?.write_raw(&labels)?;
    let mut refs = Vec::with_capacity(2);
    for (axis, scale) in [(0u32, &channel.x), (1, &channel.y)] {
        let s = g.new_dataset_builder().with_data(&scale.values).create(scale.name.as_str())?;
        let mut sattrs = scale.attrs.clone();
        for (k, v) in [("name", scale.name.as_str()), ("quantity", scale.name.as_str()), ("units", "m"), ("dimension_type", "SPATIAL")] {
            sattrs.entry(k.to_string()).or_insert_with(|| str_attr(v));
        }
        write_attrs(&s, &sattrs)?;
        write_c_string_attr(&s, "CLASS", "DIMENSION_SCALE")?;
        write_c_string_attr(&s, "NAME", &scale.name)?;
        let uses = [ScaleUse { dataset: g.reference::<ObjectReference1>(name)?, dimension: axis }];
        s.new_attr::<ScaleUse>().shape(1).create("REFERENCE_LIST")?.write_raw(&uses)?;
        refs.push(VarLenArray::from(&[g.reference::<ObjectReference1>(scale.name.as_str())?][..]));
    }
    ds.new_attr::<VarLenArray<ObjectReference1>>().shape(2).create("DIMENSION_LIST")?.write_raw(&refs)?;
    let meta = g.create_group("original_metadata")?;
    write_attrs(&meta, &channel.original_metadata)
}

fn check_channel(path: &Path, ch: &NsidChannel) -> Result<(), IoError> {
    let (lines, points) = ch.data.dim();
    if lines == 0 || points == 0 || ch.x.values.len() != points || ch.y.values.len() != lines {
        return Err(IoError::Unwritable {
            path: path.to_path_buf(),
            what: format!(
                "channel {} is {lines} lines × {points} points but its scales have {} (y) and {} (x) values",
                ch.quantity,
                ch.y.values.len(),
                ch.x.values.len()
            ),
        });
    }
    if ch.x.name == ch.y.name || ch.x.name.is_empty() || ch.x.name == "original_metadata" || ch.y.name == "original_metadata" {
        return Err(IoError::Unwritable {
            path: path.to_path_buf(),
            what: format!("scale names {:?} and {:?} must differ and be usable names", ch.x.name, ch.y.name),
        });
    }
    Ok(())
}

/// Creates (or truncates) `path` and writes `channels` as `/Measurement_000/Channel_<k>`.
/// Files use the HDF5 1.8 format (readable by HDF5 ≥ 1.8, so by h5py, SciFiReaders, DTMicroscope).
pub fn write_channels(path: &Path, channels: &[NsidChannel]) -> Result<(), IoError> {
    channels.iter().try_for_each(|c| check_channel(path, c))?;
    let file = File::with_options()
        .with_fapl(|p| p.libver_bounds(hdf5::file::LibraryVersion::V18, hdf5::file::LibraryVersion::V18))
        .create(path)
        .map_err(|e| IoError::hdf5(path, "cannot create", e))?;
    let meas = file.create_group(MEASUREMENT_GROUP).map_err(|e| IoError::hdf5(path, "creating /Measurement_000", e))?;
    for (k, ch) in channels.iter().enumerate() {
        let name = format!("Channel_{k}");
        write_channel_in(&meas, &name, ch)
            .map_err(|e| IoError::hdf5(path, format!("writing /{MEASUREMENT_GROUP}/{name}"), e))?;
    }
    file.flush().map_err(|e| IoError::hdf5(path, "flushing", e))
}

/// Adds `channel` to an existing file as the next free `/Measurement_000/Channel_<k>` and returns
/// the path of its image dataset (e.g. a ground-truth image written beside the measured ones).
pub fn append_channel(path: &Path, channel: &NsidChannel) -> Result<String, IoError> {
    check_channel(path, channel)?;
    let file = File::open_rw(path).map_err(|e| IoError::hdf5(path, "cannot open for writing", e))?;
    let meas = match file.group(MEASUREMENT_GROUP) {
        Ok(g) => g,
        Err(_) => file.create_group(MEASUREMENT_GROUP).map_err(|e| IoError::hdf5(path, "creating /Measurement_000", e))?,
    };
    let name = (0..).map(|k| format!("Channel_{k}")).find(|n| !meas.link_exists(n)).unwrap_or_default();
    write_channel_in(&meas, &name, channel)
        .map_err(|e| IoError::hdf5(path, format!("writing /{MEASUREMENT_GROUP}/{name}"), e))?;
    file.flush().map_err(|e| IoError::hdf5(path, "flushing", e))?;
    Ok(format!("/{MEASUREMENT_GROUP}/{name}/{name}/{name}"))
}

/// One frame channel in pyNSID form: scales from 0 in metres along x and y at the frame's pitch
/// (as SciFiReaders writes them), and `original_metadata` = the Asylum-style scan parameters of the
/// frame (so reading it back gives the same geometry and rate) plus `metadata`.
pub fn channel_from_image(
    image: &ChannelImage,
    frame: &Frame,
    metadata: &BTreeMap<String, String>,
) -> Result<NsidChannel, afm_drivers::ibw::IbwError> {
    let (px, py) = frame.region.pitch_m(&frame.raster);
    let scale = |name: &str, n: usize, pitch: f64| NsidScale {
        name: name.to_string(),
        values: (0..n).map(|i| i as f64 * pitch).collect(),
        attrs: [("name", name), ("quantity", name), ("units", "m"), ("dimension_type", "SPATIAL")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), str_attr(v)))
            .collect(),
    };
    let mut original_metadata: Attrs = metadata.iter().map(|(k, v)| (k.clone(), AttrValue::from_text(v))).collect();
    for (k, v) in afm_drivers::ibw::asylum_note_entries(frame)? {
        original_metadata.insert(k, AttrValue::from_text(&v));
    }
    let attrs: Attrs = [
        ("data_type", "IMAGE".to_string()),
        ("main_data_name", image.label()),
        ("modality", "AFM".to_string()),
        ("source", "afm-spark".to_string()),
        ("pyNSID_version", PYNSID_LAYOUT_VERSION.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), AttrValue::Str(v)))
    .collect();
    Ok(NsidChannel {
        quantity: image.label(),
        units: image.unit.clone(),
        data: image.data.clone(),
        x: scale("x", frame.raster.points, px),
        y: scale("y", frame.raster.lines, py),
        attrs,
        group_attrs: Attrs::from([("source".to_string(), str_attr("afm-spark"))]),
        original_metadata,
    })
}

/// Writes every channel of `frame` to a new pyNSID file (see [`channel_from_image`]).
pub fn write_frame(path: &Path, frame: &Frame, metadata: &BTreeMap<String, String>) -> Result<(), IoError> {
    let channels = frame
        .channels
        .iter()
        .map(|c| {
            check_finite_geometry(path, frame)?;
            channel_from_image(c, frame, metadata).map_err(|cause| IoError::Ibw { path: path.to_path_buf(), cause })
        })
        .collect::<Result<Vec<_>, _>>()?;
    write_channels(path, &channels)
}

fn check_finite_geometry(path: &Path, frame: &Frame) -> Result<(), IoError> {
    let r = &frame.region;
    if [r.center_x_m, r.center_y_m, r.width_m, r.height_m, r.angle_deg, frame.line_rate_hz].iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(IoError::Unwritable { path: path.to_path_buf(), what: format!("region or rate not finite: {r:?}") })
    }
}
