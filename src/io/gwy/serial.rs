//! The generic GWY serialization (Gwyddion user guide, "Format of Gwyddion Files"): a file is the
//! magic `GWYP` followed by one serialized object. An object is its type name (NUL-terminated), the
//! byte size of its components (unsigned 32-bit), then the components; a component is its name
//! (NUL-terminated), one type character and the value. All numbers are little-endian.
//!
//! Atomic types: `b` boolean (one byte), `c` character, `i` 32-bit integer, `q` 64-bit integer,
//! `d` IEEE double, `s` NUL-terminated string, `o` object. Arrays use the upper-case character and
//! store an unsigned 32-bit item count before the items (`C` characters are not NUL-terminated).
//!
//! The decoder checks every length against the end of the enclosing object before it reads or
//! allocates, requires each object's components to fill exactly its declared size, and limits nesting
//! depth, so a corrupt buffer gives a [`GwyError`] and never a panic or a huge allocation.

use super::error::GwyError;

/// The four bytes every GWY file starts with.
pub const MAGIC: &[u8; 4] = b"GWYP";
/// How deep objects may nest before decoding gives up (Gwyddion's own files nest 3–4 levels).
pub const MAX_DEPTH: usize = 32;

/// One component value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `b`: a boolean.
    Bool(bool),
    /// `c`: one character (byte).
    Char(u8),
    /// `i`: a 32-bit signed integer.
    Int32(i32),
    /// `q`: a 64-bit signed integer.
    Int64(i64),
    /// `d`: a double.
    Double(f64),
    /// `s`: a string (UTF-8 in Gwyddion; other bytes are read as Latin-1).
    Str(String),
    /// `o`: a nested object.
    Object(Object),
    /// `C`: an array of characters.
    CharArray(Vec<u8>),
    /// `I`: an array of 32-bit integers.
    Int32Array(Vec<i32>),
    /// `Q`: an array of 64-bit integers.
    Int64Array(Vec<i64>),
    /// `D`: an array of doubles (image data).
    DoubleArray(Vec<f64>),
    /// `S`: an array of strings.
    StrArray(Vec<String>),
    /// `O`: an array of objects.
    ObjectArray(Vec<Object>),
}

impl Value {
    /// The type character of the value.
    pub fn type_char(&self) -> u8 {
        match self {
            Value::Bool(_) => b'b',
            Value::Char(_) => b'c',
            Value::Int32(_) => b'i',
            Value::Int64(_) => b'q',
            Value::Double(_) => b'd',
            Value::Str(_) => b's',
            Value::Object(_) => b'o',
            Value::CharArray(_) => b'C',
            Value::Int32Array(_) => b'I',
            Value::Int64Array(_) => b'Q',
            Value::DoubleArray(_) => b'D',
            Value::StrArray(_) => b'S',
            Value::ObjectArray(_) => b'O',
        }
    }

    /// A short description for error messages, e.g. "a string" or "an object GwySIUnit".
    pub fn describe(&self) -> String {
        match self {
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Char(c) => format!("the character {c:#04x}"),
            Value::Int32(v) => format!("the integer {v}"),
            Value::Int64(v) => format!("the 64-bit integer {v}"),
            Value::Double(v) => format!("the double {v}"),
            Value::Str(s) => format!("the string {s:?}"),
            Value::Object(o) => format!("an object {}", o.type_name),
            Value::CharArray(a) => format!("{} characters", a.len()),
            Value::Int32Array(a) => format!("{} integers", a.len()),
            Value::Int64Array(a) => format!("{} 64-bit integers", a.len()),
            Value::DoubleArray(a) => format!("{} doubles", a.len()),
            Value::StrArray(a) => format!("{} strings", a.len()),
            Value::ObjectArray(a) => format!("{} objects", a.len()),
        }
    }
}

/// A serialized object: its GObject type name and its named components in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    /// Type name, e.g. "GwyContainer", "GwyDataField", "GwySIUnit".
    pub type_name: String,
    /// Components in file order (names are unique in files Gwyddion writes; the first one wins here).
    pub components: Vec<(String, Value)>,
}

impl Object {
    /// An object of type `type_name` without components.
    pub fn new(type_name: &str) -> Self {
        Self { type_name: type_name.to_string(), components: Vec::new() }
    }

    /// Appends component `name` (builder style).
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.components.push((name.to_string(), value));
        self
    }

    /// The first component called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.components.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Encodes `root` as a complete GWY file: `GWYP` + the object.
pub fn encode_file(root: &Object) -> Result<Vec<u8>, GwyError> {
    let mut out = MAGIC.to_vec();
    encode_object(root, &mut out)?;
    Ok(out)
}

fn put_cstr(out: &mut Vec<u8>, s: &str, what: &str) -> Result<(), GwyError> {
    if s.contains('\0') {
        return Err(GwyError::Unwritable(format!("{what} {s:?} contains a NUL character")));
    }
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}

fn put_count(out: &mut Vec<u8>, n: usize, what: &str) -> Result<(), GwyError> {
    let n = u32::try_from(n).map_err(|_| GwyError::Unwritable(format!("{what}: {n} items do not fit a 32-bit count")))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn encode_object(obj: &Object, out: &mut Vec<u8>) -> Result<(), GwyError> {
    put_cstr(out, &obj.type_name, "object type name")?;
    let size_at = out.len();
    out.extend_from_slice(&[0; 4]);
    for (name, value) in &obj.components {
        put_cstr(out, name, "component name")?;
        out.push(value.type_char());
        encode_value(value, out, name)?;
    }
    let size = out.len() - size_at - 4;
    let size = u32::try_from(size).map_err(|_| GwyError::Unwritable(format!("object {} is {size} bytes, over 4 GiB", obj.type_name)))?;
    out[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
    Ok(())
}

fn encode_value(value: &Value, out: &mut Vec<u8>, name: &str) -> Result<(), GwyError> {
    match value {
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Char(c) => out.push(*c),
        Value::Int32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Int64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Double(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Str(s) => put_cstr(out, s, &format!("string of component {name:?}"))?,
        Value::Object(o) => encode_object(o, out)?,
        Value::CharArray(a) => {
            put_count(out, a.len(), name)?;
            out.extend_from_slice(a);
        }
        Value::Int32Array(a) => {
            put_count(out, a.len(), name)?;
            a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        Value::Int64Array(a) => {
            put_count(out, a.len(), name)?;
            a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        Value::DoubleArray(a) => {
            put_count(out, a.len(), name)?;
            out.reserve(8 * a.len());
            a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        Value::StrArray(a) => {
            put_count(out, a.len(), name)?;
            for s in a {
                put_cstr(out, s, &format!("string of component {name:?}"))?;
            }
        }
        Value::ObjectArray(a) => {
            put_count(out, a.len(), name)?;
            for o in a {
                encode_object(o, out)?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Decodes a complete GWY file: checks the magic, decodes the one top-level object and requires it
/// to end exactly at the end of the buffer.
pub fn decode_file(bytes: &[u8]) -> Result<Object, GwyError> {
    if bytes.get(..4) != Some(MAGIC.as_slice()) {
        return Err(GwyError::BadMagic { found: bytes.iter().take(4).copied().collect() });
    }
    let mut cursor = Cursor { buf: bytes, pos: 4 };
    let root = cursor.object(bytes.len(), 0)?;
    if cursor.pos != bytes.len() {
        return Err(GwyError::Malformed {
            offset: cursor.pos,
            what: format!("{} bytes after the top-level {} object", bytes.len() - cursor.pos, root.type_name),
        });
    }
    Ok(root)
}

/// A read position in the buffer; every read is checked against a `limit` (end of the enclosing
/// object), never past `buf.len()`.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Decodes text: UTF-8 when valid, else Latin-1 (one character per byte).
fn text(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

impl<'a> Cursor<'a> {
    /// `n` bytes at the cursor, advancing it; `Truncated` if they pass `limit`.
    fn take(&mut self, n: usize, limit: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], GwyError> {
        let end = self.pos.saturating_add(n);
        if end > limit {
            return Err(GwyError::Truncated { what: what(), offset: self.pos, end, limit });
        }
        let slice = self.buf.get(self.pos..end).ok_or(GwyError::Truncated { what: String::new(), offset: self.pos, end, limit })?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, limit: usize, what: impl FnOnce() -> String) -> Result<[u8; N], GwyError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, limit, what)?);
        Ok(out)
    }

    /// A NUL-terminated string that must end before `limit`.
    fn cstr(&mut self, limit: usize, what: impl FnOnce() -> String) -> Result<String, GwyError> {
        let window = self.buf.get(self.pos..limit.min(self.buf.len())).unwrap_or_default();
        match window.iter().position(|&b| b == 0) {
            Some(n) => {
                let s = text(&window[..n]);
                self.pos += n + 1;
                Ok(s)
            }
            None => Err(GwyError::Malformed { offset: self.pos, what: format!("{} has no terminating NUL before byte {limit}", what()) }),
        }
    }

    /// An array item count, checked so that `count · item_size` bytes fit before `limit`.
    fn count(&mut self, item_size: usize, limit: usize, name: &str) -> Result<usize, GwyError> {
        let n = u32::from_le_bytes(self.array::<4>(limit, || format!("item count of component {name:?}"))?) as usize;
        let bytes = n.saturating_mul(item_size);
        let end = self.pos.saturating_add(bytes);
        if end > limit {
            return Err(GwyError::Truncated {
                what: format!("component {name:?} ({n} items of {item_size} bytes)"),
                offset: self.pos,
                end,
                limit,
            });
        }
        Ok(n)
    }

    /// One object whose bytes must end by `limit`.
    fn object(&mut self, limit: usize, depth: usize) -> Result<Object, GwyError> {
        let start = self.pos;
        if depth >= MAX_DEPTH {
            return Err(GwyError::TooDeep { offset: start, max: MAX_DEPTH });
        }
        let type_name = self.cstr(limit, || "object type name".into())?;
        if type_name.is_empty() || !type_name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+')) {
            return Err(GwyError::Malformed { offset: start, what: format!("object type name {type_name:?} is not a GObject type name") });
        }
        let size = u32::from_le_bytes(self.array::<4>(limit, || format!("size of object {type_name}"))?) as usize;
        let end = self.pos.saturating_add(size);
        if end > limit {
            return Err(GwyError::Truncated { what: format!("object {type_name} ({size} bytes)"), offset: self.pos, end, limit });
        }
        let mut components = Vec::new();
        while self.pos < end {
            let at = self.pos;
            let name = self.cstr(end, || format!("a component name of object {type_name}"))?;
            let code = self.array::<1>(end, || format!("type of component {name:?} of {type_name}"))?[0];
            let value = self.value(code, &name, end, depth).map_err(|e| match e {
                GwyError::Malformed { offset, what } if offset == at => {
                    GwyError::Malformed { offset, what: format!("{what} (component {name:?} of {type_name})") }
                }
                other => other,
            })?;
            components.push((name, value));
        }
        Ok(Object { type_name, components })
    }

    fn value(&mut self, code: u8, name: &str, limit: usize, depth: usize) -> Result<Value, GwyError> {
        let what = |n: &str| format!("component {name:?} ({n})");
        Ok(match code {
            b'b' => Value::Bool(self.array::<1>(limit, || what("boolean"))?[0] != 0),
            b'c' => Value::Char(self.array::<1>(limit, || what("character"))?[0]),
            b'i' => Value::Int32(i32::from_le_bytes(self.array(limit, || what("32-bit integer"))?)),
            b'q' => Value::Int64(i64::from_le_bytes(self.array(limit, || what("64-bit integer"))?)),
            b'd' => Value::Double(f64::from_le_bytes(self.array(limit, || what("double"))?)),
            b's' => Value::Str(self.cstr(limit, || what("string"))?),
            b'o' => Value::Object(self.object(limit, depth + 1)?),
            b'C' => {
                let n = self.count(1, limit, name)?;
                Value::CharArray(self.take(n, limit, || what("characters"))?.to_vec())
            }
            b'I' => {
                let n = self.count(4, limit, name)?;
                let raw = self.take(4 * n, limit, || what("integers"))?;
                Value::Int32Array(raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
            b'Q' => {
                let n = self.count(8, limit, name)?;
                let raw = self.take(8 * n, limit, || what("64-bit integers"))?;
                Value::Int64Array(raw.chunks_exact(8).map(|c| i64::from_le_bytes(eight(c))).collect())
            }
            b'D' => {
                let n = self.count(8, limit, name)?;
                let raw = self.take(8 * n, limit, || what("doubles"))?;
                Value::DoubleArray(raw.chunks_exact(8).map(|c| f64::from_le_bytes(eight(c))).collect())
            }
            b'S' => {
                // Each string takes at least its NUL: the count is checked against one byte per item.
                let n = self.count(1, limit, name)?;
                let mut items = Vec::with_capacity(n);
                for k in 0..n {
                    items.push(self.cstr(limit, || format!("string {k} of component {name:?}"))?);
                }
                Value::StrArray(items)
            }
            b'O' => {
                // Each object takes at least a 1-byte name, its NUL and a 4-byte size.
                let n = self.count(6, limit, name)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.object(limit, depth + 1)?);
                }
                Value::ObjectArray(items)
            }
            other => {
                return Err(GwyError::Malformed {
                    offset: self.pos.saturating_sub(1),
                    what: format!("component {name:?} has unknown type character {other:#04x}"),
                })
            }
        })
    }
}

/// The first 8 bytes of a chunk of exactly 8.
fn eight(c: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Object {
        let unit = Object::new("GwySIUnit").with("unitstr", Value::Str("m".into()));
        Object::new("GwyContainer")
            .with("/0/data/title", Value::Str("Höhe".into()))
            .with("flag", Value::Bool(true))
            .with("c", Value::Char(b'x'))
            .with("i", Value::Int32(-7))
            .with("q", Value::Int64(1 << 40))
            .with("d", Value::Double(-1.5e-9))
            .with("o", Value::Object(unit.clone()))
            .with("C", Value::CharArray(b"ab\0c".to_vec()))
            .with("I", Value::Int32Array(vec![1, -2, 3]))
            .with("Q", Value::Int64Array(vec![i64::MIN, 0]))
            .with("D", Value::DoubleArray(vec![0.0, f64::MAX, -0.25]))
            .with("S", Value::StrArray(vec!["".into(), "xy".into()]))
            .with("O", Value::ObjectArray(vec![unit.clone(), unit]))
            .with("empty", Value::DoubleArray(vec![]))
    }

    #[test]
    fn every_type_round_trips() {
        let obj = sample();
        let bytes = encode_file(&obj).unwrap();
        assert_eq!(&bytes[..4], b"GWYP");
        assert_eq!(decode_file(&bytes).unwrap(), obj);
    }

    #[test]
    fn layout_matches_the_user_guide() {
        // "GWYP", "GwySIUnit\0", size u32 = len("unitstr\0") + 1 + len("m\0") = 11, "unitstr\0", 's', "m\0"
        let obj = Object::new("GwySIUnit").with("unitstr", Value::Str("m".into()));
        let bytes = encode_file(&obj).unwrap();
        let mut expected = b"GWYPGwySIUnit\0".to_vec();
        expected.extend_from_slice(&11u32.to_le_bytes());
        expected.extend_from_slice(b"unitstr\0sm\0");
        assert_eq!(bytes, expected);
        // Arrays: u32 count, then items.
        let arr = encode_file(&Object::new("T").with("D", Value::DoubleArray(vec![1.0]))).unwrap();
        assert_eq!(&arr[10..12], b"D\0");
        assert_eq!(arr[12], b'D');
        assert_eq!(&arr[13..17], &1u32.to_le_bytes());
        assert_eq!(&arr[17..25], &1.0f64.to_le_bytes());
    }

    #[test]
    fn every_truncation_and_many_flips_fail_cleanly() {
        let bytes = encode_file(&sample()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_file(&bytes[..cut]).is_err(), "cut at {cut} decoded");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(decode_file(&extra), Err(GwyError::Malformed { .. })));
        for pos in 0..bytes.len() {
            for pattern in [0x01u8, 0x80, 0xFF] {
                let mut bad = bytes.clone();
                bad[pos] ^= pattern;
                let _ = decode_file(&bad); // must return, Ok or Err, without panicking
            }
        }
    }

    #[test]
    fn hostile_counts_and_depth_are_refused() {
        // An array claiming 2^32 − 1 doubles in a 30-byte file.
        let mut bytes = b"GWYPT\0".to_vec();
        bytes.extend_from_slice(&7u32.to_le_bytes());
        bytes.extend_from_slice(b"a\0D");
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode_file(&bytes), Err(GwyError::Truncated { .. })), "{:?}", decode_file(&bytes));
        // Objects nested MAX_DEPTH + 1 deep.
        let mut obj = Object::new("Leaf");
        for _ in 0..=MAX_DEPTH {
            obj = Object::new("Node").with("o", Value::Object(obj));
        }
        let deep = encode_file(&obj).unwrap();
        assert!(matches!(decode_file(&deep), Err(GwyError::TooDeep { .. })));
        // NUL in a name cannot be written.
        assert!(matches!(encode_file(&Object::new("T").with("a\0b", Value::Bool(true))), Err(GwyError::Unwritable(_))));
        assert!(matches!(decode_file(b"GWYO"), Err(GwyError::BadMagic { .. })));
    }
}
