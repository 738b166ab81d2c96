//! Igor binary wave (.ibw) codec, bytes in and bytes out (no file I/O): the format Asylum Research
//! MFP-3D / Cypher software saves images in, and what the MFP-3D bridge returns for every frame.
//!
//! - [`parse`] reads versions 1, 2, 3 and 5 in either byte order, checks the header checksum and every
//!   declared size against the buffer, and ignores trailing bytes after the declared sections (Asylum
//!   appends a trailer after the note). It never panics and never reads out of bounds.
//! - [`IbwWave::to_frame`] turns an Asylum image wave into a [`Frame`](crate::frame::Frame).
//! - [`write_v5`] writes a frame as a version-5 wave with an Asylum-style note that `parse` +
//!   `to_frame` read back exactly.
//!
//! **Orientation.** Asylum stores an image stack as `[points, lines, channels]` in column-major order:
//! element (p, l, c) is at flat index `p + l·P + c·P·L`. The first axis is the fast scan axis (points
//! along a line, x), the second the slow axis (lines, y), and line 0 is the **bottom** line of the
//! image as Asylum displays it (smallest y). Frames keep that orientation: `data[[l, p]]`, row 0 the
//! bottom line — no flip.

mod asylum;
mod bytes;
mod error;
mod note;
mod parse;
mod write;

#[cfg(test)]
mod tests;

pub use asylum::{asylum_note_entries, channel_unit, split_label, AsylumScan, MAC_TO_UNIX_EPOCH_S};
pub use bytes::ByteOrder;
pub use error::IbwError;
pub use note::{format_number, Note, NoteEntry, NoteValue};
pub use parse::parse;
pub use write::{write_v5, WriteOptions};

use ndarray::Array2;

/// Igor's number type of the stored data (all are converted to `f32` on reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberType {
    /// 32-bit float (`NT_FP32`), what Asylum writes.
    F32,
    /// 64-bit float (`NT_FP64`).
    F64,
    /// 8-bit signed integer.
    I8,
    /// 16-bit signed integer.
    I16,
    /// 32-bit signed integer.
    I32,
    /// 64-bit signed integer (Igor 7+).
    I64,
    /// 8-bit unsigned integer.
    U8,
    /// 16-bit unsigned integer.
    U16,
    /// 32-bit unsigned integer.
    U32,
    /// 64-bit unsigned integer (Igor 7+).
    U64,
}

impl NumberType {
    /// Bytes per stored value.
    pub fn size_bytes(self) -> usize {
        match self {
            NumberType::I8 | NumberType::U8 => 1,
            NumberType::I16 | NumberType::U16 => 2,
            NumberType::F32 | NumberType::I32 | NumberType::U32 => 4,
            NumberType::F64 | NumberType::I64 | NumberType::U64 => 8,
        }
    }
}

/// Linear scaling of one dimension: the value of index `i` is `offset + delta·i`, in `units`.
#[derive(Debug, Clone, PartialEq)]
pub struct DimScale {
    /// Step per index (Igor `sfA`, v2 `hsA`).
    pub delta: f64,
    /// Value at index 0 (Igor `sfB`, v2 `hsB`).
    pub offset: f64,
    /// Units of the dimension, e.g. "m" (extended units when present).
    pub units: String,
}

/// Labels of one dimension: a label for the whole dimension and one per element (empty when unset).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DimLabels {
    /// Label of the dimension itself (Igor's label at index −1).
    pub dimension: String,
    /// One label per element; Asylum names the channels of an image stack here (3rd dimension).
    pub elements: Vec<String>,
}

/// A decoded Igor binary wave.
#[derive(Debug, Clone, PartialEq)]
pub struct IbwWave {
    /// File format version (1, 2, 3 or 5).
    pub version: u16,
    /// Byte order of the file.
    pub byte_order: ByteOrder,
    /// Wave name.
    pub name: String,
    /// Number type the data was stored as.
    pub number_type: NumberType,
    /// Size of each dimension, up to the first zero: `[points, lines, channels]` for an Asylum image.
    pub dims: Vec<usize>,
    /// Scaling and units of each dimension in `dims`.
    pub scales: Vec<DimScale>,
    /// Labels of each dimension in `dims` (empty `DimLabels` when the file has none).
    pub labels: Vec<DimLabels>,
    /// Units of the data values (extended units when present), e.g. "m".
    pub data_units: String,
    /// The values in file (column-major) order, converted to `f32`.
    pub data: Vec<f32>,
    /// The wave note.
    pub note: Note,
    /// Creation time, seconds since 1904-01-01 (Igor/Mac epoch); 0 when unset.
    pub creation_date_mac_s: u32,
    /// Last modification time, seconds since 1904-01-01; 0 when unset.
    pub modification_date_mac_s: u32,
}

impl IbwWave {
    /// Points, lines and layers of an image wave: `[P, L]` is one layer, `[P, L, C]` C layers.
    pub fn image_shape(&self) -> Result<(usize, usize, usize), IbwError> {
        match self.dims.as_slice() {
            [p, l] if *p > 0 && *l > 0 => Ok((*p, *l, 1)),
            [p, l, c] if *p > 0 && *l > 0 && *c > 0 => Ok((*p, *l, *c)),
            _ => Err(IbwError::NotAnImage { name: self.name.clone(), dims: self.dims.clone() }),
        }
    }

    /// Layer `c` of an image wave as `[line, point]` (row 0 the bottom line), or `None` if `c` is out
    /// of range or the wave is not an image.
    pub fn layer(&self, c: usize) -> Option<Array2<f32>> {
        let (p, l, layers) = self.image_shape().ok()?;
        if c >= layers {
            return None;
        }
        let n = p.checked_mul(l)?;
        let start = c.checked_mul(n)?;
        let flat = self.data.get(start..start.checked_add(n)?)?;
        // Column-major [p, l] within the layer: flat index p + l·P, i.e. row-major [l, p].
        Array2::from_shape_vec((l, p), flat.to_vec()).ok()
    }

    /// One label per image layer: the 3rd-dimension labels of a stack (Asylum's channel names, e.g.
    /// "HeightRetrace"), the wave name for a single 2-D image. A layer without a label is called
    /// `Layer<c>`. Empty for a wave that is not an image.
    pub fn channel_labels(&self) -> Vec<String> {
        let Ok((_, _, layers)) = self.image_shape() else { return Vec::new() };
        if self.dims.len() == 2 {
            return vec![if self.name.is_empty() { "Layer0".to_string() } else { self.name.clone() }];
        }
        let stored = self.labels.get(2).map(|d| d.elements.as_slice()).unwrap_or_default();
        (0..layers)
            .map(|c| match stored.get(c) {
                Some(s) if !s.is_empty() => s.clone(),
                _ => format!("Layer{c}"),
            })
            .collect()
    }
}
