//! Gwyddion's data objects on top of the generic serialization: `GwyDataField` (an image channel),
//! `GwySIUnit`, and the top-level `GwyContainer` with its keys `/N/data` (the field), `/N/data/title`
//! (its title) and `/N/meta` (a container of metadata strings).
//!
//! A `GwyDataField` holds `xres` × `yres` doubles row by row, **row 0 the top row** as Gwyddion
//! displays it; `xreal`/`yreal` are the physical width and height of the whole pixel area (pixel pitch
//! × resolution), `xoff`/`yoff` the coordinates of its corner, `si_unit_xy`/`si_unit_z` the lateral and
//! value units. [`DataField`] keeps exactly that (Gwyddion order); [`DataField::bottom_up`] and
//! [`DataField::from_bottom_up`] convert to and from our `[line, point]` arrays with row 0 the bottom
//! line.

use super::error::GwyError;
use super::serial::{Object, Value};
use ndarray::{Array2, ArrayView2, Axis};

/// Type name of an image channel.
pub const DATA_FIELD_TYPE: &str = "GwyDataField";
/// Type name of a unit.
pub const SI_UNIT_TYPE: &str = "GwySIUnit";
/// Type name of the top-level and metadata containers.
pub const CONTAINER_TYPE: &str = "GwyContainer";

/// One `GwyDataField`, in Gwyddion's own order and units.
#[derive(Debug, Clone, PartialEq)]
pub struct DataField {
    /// Columns (points per row).
    pub xres: usize,
    /// Rows.
    pub yres: usize,
    /// Width of the pixel area (pitch × `xres`), in `si_unit_xy`.
    pub xreal: f64,
    /// Height of the pixel area (pitch × `yres`), in `si_unit_xy`.
    pub yreal: f64,
    /// x of the pixel area's corner, in `si_unit_xy`.
    pub xoff: f64,
    /// y of the pixel area's corner, in `si_unit_xy`.
    pub yoff: f64,
    /// Lateral unit, e.g. "m" ("" when unitless).
    pub si_unit_xy: String,
    /// Value unit, e.g. "m", "V", "deg".
    pub si_unit_z: String,
    /// `xres · yres` values row by row, row 0 the TOP row.
    pub data: Vec<f64>,
}

impl DataField {
    /// A field from `[line, point]` data with row 0 the BOTTOM line (our order): rows are reversed
    /// into Gwyddion's top-first order; values widen to `f64` exactly.
    pub fn from_bottom_up(data: ArrayView2<'_, f32>) -> Self {
        let (yres, xres) = data.dim();
        let values = data.axis_iter(Axis(0)).rev().flat_map(|row| row.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()).collect();
        Self { xres, yres, xreal: 1.0, yreal: 1.0, xoff: 0.0, yoff: 0.0, si_unit_xy: String::new(), si_unit_z: String::new(), data: values }
    }

    /// The values as `[line, point]` `f32` with row 0 the BOTTOM line (rows reversed), each value
    /// multiplied by `scale` (1 leaves them bit for bit as stored when they came from `f32`).
    pub fn bottom_up(&self, scale: f64) -> Array2<f32> {
        let mut out = Array2::<f32>::zeros((self.yres, self.xres));
        for (r, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
            let src = (self.yres - 1 - r) * self.xres;
            for (c, v) in row.iter_mut().enumerate() {
                let x = self.data.get(src + c).copied().unwrap_or(f64::NAN);
                *v = if scale == 1.0 { x as f32 } else { (x * scale) as f32 };
            }
        }
        out
    }

    /// The serialized `GwyDataField` object.
    pub fn to_object(&self) -> Result<Object, GwyError> {
        let res = |n: usize, what: &str| {
            i32::try_from(n)
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| GwyError::Unwritable(format!("{what} {n} is not a positive 32-bit number")))
        };
        let unit = |s: &str| Value::Object(Object::new(SI_UNIT_TYPE).with("unitstr", Value::Str(s.to_string())));
        Ok(Object::new(DATA_FIELD_TYPE)
            .with("xres", Value::Int32(res(self.xres, "xres")?))
            .with("yres", Value::Int32(res(self.yres, "yres")?))
            .with("xreal", Value::Double(self.xreal))
            .with("yreal", Value::Double(self.yreal))
            .with("xoff", Value::Double(self.xoff))
            .with("yoff", Value::Double(self.yoff))
            .with("si_unit_xy", unit(&self.si_unit_xy))
            .with("si_unit_z", unit(&self.si_unit_z))
            .with("data", Value::DoubleArray(self.data.clone())))
    }

    /// Reads a `GwyDataField` object stored under container key `key` (named in errors). Requires
    /// positive `xres`, `yres`, finite positive `xreal`, `yreal`, finite offsets (0 when absent) and
    /// exactly `xres · yres` data values; a missing unit is "".
    pub fn from_object(key: &str, obj: &Object) -> Result<Self, GwyError> {
        let bad = |component: &str, what: String| GwyError::BadField {
            key: key.to_string(),
            what: format!("{component} {what}").trim().to_string(),
        };
        if obj.type_name != DATA_FIELD_TYPE {
            return Err(bad("", format!("is an object {}, not a {DATA_FIELD_TYPE}", obj.type_name)));
        }
        let res = |name: &str| match obj.get(name) {
            Some(Value::Int32(v)) if *v > 0 => Ok(*v as usize),
            Some(v) => Err(bad(name, format!("is {}, expected a positive integer", v.describe()))),
            None => Err(bad(name, "is missing".into())),
        };
        let real = |name: &str, required: bool| match obj.get(name) {
            Some(Value::Double(v)) if v.is_finite() && (!required || *v > 0.0) => Ok(*v),
            Some(v) => Err(bad(name, format!("is {}, expected a finite{} number", v.describe(), if required { " positive" } else { "" }))),
            None if required => Err(bad(name, "is missing".into())),
            None => Ok(0.0),
        };
        let unit = |name: &str| match obj.get(name) {
            None => Ok(String::new()),
            Some(Value::Object(u)) if u.type_name == SI_UNIT_TYPE => match u.get("unitstr") {
                None => Ok(String::new()),
                Some(Value::Str(s)) => Ok(s.trim().to_string()),
                Some(v) => Err(bad(name, format!("unitstr is {}, expected a string", v.describe()))),
            },
            Some(v) => Err(bad(name, format!("is {}, expected an object {SI_UNIT_TYPE}", v.describe()))),
        };
        let (xres, yres) = (res("xres")?, res("yres")?);
        let data = match obj.get("data") {
            Some(Value::DoubleArray(d)) => d,
            Some(v) => return Err(bad("data", format!("is {}, expected an array of doubles", v.describe()))),
            None => return Err(bad("data", "is missing".into())),
        };
        if Some(data.len()) != xres.checked_mul(yres) {
            return Err(bad("data", format!("holds {} values, but xres × yres = {xres} × {yres}", data.len())));
        }
        Ok(Self {
            xres,
            yres,
            xreal: real("xreal", true)?,
            yreal: real("yreal", true)?,
            xoff: real("xoff", false)?,
            yoff: real("yoff", false)?,
            si_unit_xy: unit("si_unit_xy")?,
            si_unit_z: unit("si_unit_z")?,
            data: data.clone(),
        })
    }
}

/// One image channel of a `.gwy` file: its container id N, title and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct GwyChannel {
    /// N of `/N/data`.
    pub id: u32,
    /// `/N/data/title` ("" when absent).
    pub title: String,
    /// The data field.
    pub field: DataField,
    /// `/N/meta` entries in file order (non-string values as text).
    pub meta: Vec<(String, String)>,
}

/// The image channels of a `.gwy` file, ordered by id. Other content (masks, presentations, graphs,
/// volume data, selections, palettes) is not kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GwyDocument {
    /// The channels, ordered by id.
    pub channels: Vec<GwyChannel>,
}

impl GwyDocument {
    /// The top-level `GwyContainer`: for each channel `/N/data`, `/N/data/title` and (when it has
    /// entries) `/N/meta`. Errors on duplicate ids or a field that cannot be stored.
    pub fn to_container(&self) -> Result<Object, GwyError> {
        let mut root = Object::new(CONTAINER_TYPE);
        let mut seen = std::collections::BTreeSet::new();
        for ch in &self.channels {
            if !seen.insert(ch.id) {
                return Err(GwyError::Unwritable(format!("two channels with id {}", ch.id)));
            }
            let id = ch.id;
            root = root.with(&format!("/{id}/data"), Value::Object(ch.field.to_object()?));
            root = root.with(&format!("/{id}/data/title"), Value::Str(ch.title.clone()));
            if !ch.meta.is_empty() {
                let mut meta = Object::new(CONTAINER_TYPE);
                let mut keys = std::collections::BTreeSet::new();
                for (k, v) in &ch.meta {
                    if k.is_empty() || !keys.insert(k.as_str()) {
                        return Err(GwyError::Unwritable(format!("metadata key {k:?} is empty or repeated")));
                    }
                    meta = meta.with(k, Value::Str(v.clone()));
                }
                root = root.with(&format!("/{id}/meta"), Value::Object(meta));
            }
        }
        Ok(root)
    }

    /// The image channels of a top-level container: every `/N/data` (N a decimal number) holding a
    /// `GwyDataField`, with `/N/data/title` and `/N/meta`. Masks (`/N/mask`), presentations
    /// (`/N/show`) and everything else are skipped. Errors if the root is not a `GwyContainer`, a
    /// `/N/data` is not a valid data field, or there is none.
    pub fn from_container(root: &Object) -> Result<Self, GwyError> {
        if root.type_name != CONTAINER_TYPE {
            return Err(GwyError::BadField {
                key: "/".into(),
                what: format!("the top-level object is {}, not a {CONTAINER_TYPE}", root.type_name),
            });
        }
        let mut channels = Vec::new();
        for (key, value) in &root.components {
            let Some(id) = channel_id(key) else { continue };
            let Value::Object(obj) = value else {
                return Err(GwyError::BadField {
                    key: key.clone(),
                    what: format!("is {}, expected an object {DATA_FIELD_TYPE}", value.describe()),
                });
            };
            if channels.iter().any(|c: &GwyChannel| c.id == id) {
                continue; // a repeated key: the first one wins, as for any component
            }
            let field = DataField::from_object(key, obj)?;
            let title = match root.get(&format!("/{id}/data/title")) {
                Some(Value::Str(s)) => s.trim().to_string(),
                _ => String::new(),
            };
            let meta = match root.get(&format!("/{id}/meta")) {
                Some(Value::Object(m)) => m.components.iter().map(|(k, v)| (k.clone(), meta_text(v))).collect(),
                _ => Vec::new(),
            };
            channels.push(GwyChannel { id, title, field, meta });
        }
        if channels.is_empty() {
            let mut keys: Vec<&str> = root.components.iter().map(|(k, _)| k.as_str()).take(12).collect();
            if root.components.len() > keys.len() {
                keys.push("…");
            }
            return Err(GwyError::NoDataField { keys: if keys.is_empty() { "none".into() } else { keys.join(", ") } });
        }
        channels.sort_by_key(|c| c.id);
        Ok(Self { channels })
    }
}

/// N of a key `/N/data`, N decimal without sign.
fn channel_id(key: &str) -> Option<u32> {
    let n = key.strip_prefix('/')?.strip_suffix("/data")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// A metadata value as text (Gwyddion stores strings; other types are shown, not interpreted).
fn meta_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Char(c) => char::from(*c).to_string(),
        Value::Int32(i) => i.to_string(),
        Value::Int64(i) => i.to_string(),
        Value::Double(d) => d.to_string(),
        other => format!("({})", other.describe()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_reversed_into_gwyddion_order_and_back() {
        let ours = Array2::from_shape_fn((3, 2), |(l, p)| (10 * l + p) as f32);
        let field = DataField::from_bottom_up(ours.view());
        // Gwyddion's first row is our top line (line 2).
        assert_eq!(field.data, vec![20.0, 21.0, 10.0, 11.0, 0.0, 1.0]);
        assert_eq!((field.xres, field.yres), (2, 3));
        assert_eq!(field.bottom_up(1.0), ours);
    }

    #[test]
    fn channel_ids_are_decimal_numbers_only() {
        assert_eq!(channel_id("/0/data"), Some(0));
        assert_eq!(channel_id("/12/data"), Some(12));
        for k in ["/0/data/title", "/0/mask", "/x/data", "//data", "/-1/data", "/0/show", "/brick/0"] {
            assert_eq!(channel_id(k), None, "{k}");
        }
    }

    #[test]
    fn bad_fields_name_key_and_component() {
        let mut field = DataField::from_bottom_up(Array2::<f32>::zeros((2, 2)).view());
        field.xreal = 0.0;
        let obj = field.to_object().unwrap();
        let err = DataField::from_object("/3/data", &obj).unwrap_err().to_string();
        assert!(err.contains("/3/data: xreal is the double 0") && err.contains("positive"), "{err}");
        let short = Object { components: obj.components.iter().filter(|(n, _)| n != "data").cloned().collect(), ..obj };
        let err = DataField::from_object("/3/data", &short).unwrap_err().to_string();
        assert!(err.contains("/3/data: data is missing"), "{err}");
    }
}
