//! Bounds-checked reads and plain writes of Igor's fixed-size fields in either byte order. Every
//! read returns `IbwError::Truncated` instead of indexing past the buffer.

use super::error::IbwError;

/// Byte order of an Igor binary wave (Igor writes the platform's order; the version field tells which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Least significant byte first (Windows and Intel Macs).
    Little,
    /// Most significant byte first (PowerPC Macs).
    Big,
}

/// A read-only view of the whole buffer that knows its byte order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
    pub order: ByteOrder,
}

impl<'a> Reader<'a> {
    /// Bytes `offset..offset + n`, or `Truncated` naming `what`.
    pub fn bytes(&self, what: &str, offset: usize, n: usize) -> Result<&'a [u8], IbwError> {
        let end = offset.checked_add(n).ok_or_else(|| self.truncated(what, offset, usize::MAX))?;
        self.buf.get(offset..end).ok_or_else(|| self.truncated(what, offset, end))
    }

    fn truncated(&self, what: &str, offset: usize, end: usize) -> IbwError {
        IbwError::Truncated { what: what.to_string(), offset, end, len: self.buf.len() }
    }

    fn array<const N: usize>(&self, what: &str, offset: usize) -> Result<[u8; N], IbwError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(what, offset, N)?);
        if self.order == ByteOrder::Big {
            out.reverse();
        }
        Ok(out)
    }

    pub fn u16(&self, what: &str, offset: usize) -> Result<u16, IbwError> {
        self.array::<2>(what, offset).map(u16::from_le_bytes)
    }
    pub fn u32(&self, what: &str, offset: usize) -> Result<u32, IbwError> {
        self.array::<4>(what, offset).map(u32::from_le_bytes)
    }
    pub fn i32(&self, what: &str, offset: usize) -> Result<i32, IbwError> {
        self.array::<4>(what, offset).map(i32::from_le_bytes)
    }
    pub fn f64(&self, what: &str, offset: usize) -> Result<f64, IbwError> {
        self.array::<8>(what, offset).map(f64::from_le_bytes)
    }

    /// A size or count field (signed 32-bit in Igor) that must not be negative.
    pub fn size(&self, field: &'static str, offset: usize) -> Result<usize, IbwError> {
        let v = self.i32(field, offset)?;
        usize::try_from(v).map_err(|_| IbwError::BadField { field, offset, value: i64::from(v), why: "a size cannot be negative".into() })
    }

    /// Sum of the 16-bit words in bytes `0..span` (Igor's header checksum; 0 when intact).
    pub fn checksum(&self, span: usize) -> Result<u16, IbwError> {
        let head = self.bytes("header (checksum span)", 0, span)?;
        let sum = head.chunks_exact(2).fold(0u16, |acc, w| {
            let word = match self.order {
                ByteOrder::Little => u16::from_le_bytes([w[0], w[1]]),
                ByteOrder::Big => u16::from_be_bytes([w[0], w[1]]),
            };
            acc.wrapping_add(word)
        });
        Ok(sum)
    }
}

/// Text stored in a fixed-size, NUL-padded field or a sized section: up to the first NUL, decoded as
/// UTF-8 when valid, else as Latin-1 (Asylum's notes carry `°` and `µ` as single Windows bytes).
pub(crate) fn decode_text(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let raw = &raw[..end];
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// An append-only little- or big-endian byte buffer for the writer.
#[derive(Debug)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
    pub order: ByteOrder,
}

impl Writer {
    pub fn new(order: ByteOrder, capacity: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity), order }
    }
    fn put<const N: usize>(&mut self, mut le: [u8; N]) {
        if self.order == ByteOrder::Big {
            le.reverse();
        }
        self.buf.extend_from_slice(&le);
    }
    pub fn i16(&mut self, v: i16) {
        self.put(v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.put(v.to_le_bytes());
    }
    pub fn f32(&mut self, v: f32) {
        self.put(v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.put(v.to_le_bytes());
    }
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
    /// `text` in a NUL-padded field of `width` bytes (the caller checked it fits with its NUL).
    pub fn fixed_text(&mut self, text: &str, width: usize) {
        let start = self.buf.len();
        self.buf.extend(text.bytes().take(width.saturating_sub(1)));
        self.buf.resize(start + width, 0);
    }
    /// Overwrites the 16-bit word at `offset` (the caller wrote it before).
    pub fn patch_i16(&mut self, offset: usize, v: i16) {
        let mut b = v.to_le_bytes();
        if self.order == ByteOrder::Big {
            b.reverse();
        }
        if let Some(slot) = self.buf.get_mut(offset..offset + 2) {
            slot.copy_from_slice(&b);
        }
    }
}
