//! HDF5 attributes as values we can carry from one file to another ([`AttrValue`]), and the
//! NUL-terminated string attributes of HDF5 dimension scales.

use afm_drivers::ibw::format_number;
use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Attribute, Location};
use std::collections::BTreeMap;
use std::str::FromStr;

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

/// Attributes the writer rebuilds (dimension-scale bookkeeping); never copied from a file.
pub(super) const STRUCTURAL: [&str; 5] = ["DIMENSION_LIST", "DIMENSION_LABELS", "CLASS", "NAME", "REFERENCE_LIST"];

/// Reads one attribute; `Ok(None)` for types we do not carry (compound, references, enums other
/// than bool, multi-dimensional arrays).
pub(super) fn read_attr(attr: &Attribute) -> hdf5::Result<Option<AttrValue>> {
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
pub(super) fn read_attrs(loc: &Location) -> hdf5::Result<Attrs> {
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

pub(super) fn write_attrs(loc: &Location, attrs: &Attrs) -> hdf5::Result<()> {
    attrs.iter().filter(|(k, _)| !STRUCTURAL.contains(&k.as_str())).try_for_each(|(k, v)| write_attr(loc, k, v))
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
pub(super) fn write_c_string_attr(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    let dtype = nul_terminated_string_type(value.len() + 1)?;
    let attr = loc.new_attr_builder().empty_as(&dtype).create(name)?;
    let text = FixedAscii::<256>::from_ascii(value).map_err(|e| hdf5::Error::from(format!("{value:?}: {e}")))?;
    attr.write_scalar(&text)
}
