//! What can be wrong with an Igor binary wave: every variant says which field or section, at which
//! byte offset, and what was found.

use thiserror::Error;

/// An .ibw buffer that cannot be decoded, or a frame that cannot be encoded as one.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum IbwError {
    /// The buffer ends before a field or section it declares.
    #[error("truncated: {what} needs bytes {offset}..{end} but the buffer holds {len} bytes")]
    Truncated {
        /// The field or section, e.g. "wave data" or "BinHeader5.noteSize".
        what: String,
        /// First byte of what was being read.
        offset: usize,
        /// One past its last byte.
        end: usize,
        /// Length of the buffer.
        len: usize,
    },
    /// The version field (bytes 0..2) is not a known Igor binary wave version in either byte order.
    #[error("not an Igor binary wave: version field is {bytes:02x?} (expected 1, 2, 3 or 5 in either byte order)")]
    UnknownVersion {
        /// The first two bytes of the buffer.
        bytes: [u8; 2],
    },
    /// The header checksum does not add up: the header is corrupt.
    #[error("header checksum mismatch: the 16-bit sum over bytes 0..{span} is {sum:#06x}, expected 0")]
    Checksum {
        /// Number of header bytes covered by the checksum.
        span: usize,
        /// The sum found (0 for an intact header).
        sum: u16,
    },
    /// A header field holds an impossible value.
    #[error("bad header field {field} at byte {offset}: {value} ({why})")]
    BadField {
        /// The field, e.g. "WaveHeader5.npnts".
        field: &'static str,
        /// Its byte offset in the buffer.
        offset: usize,
        /// The value found.
        value: i64,
        /// Why it is impossible.
        why: String,
    },
    /// The wave's number type is not one we read (text and complex waves).
    #[error("unsupported wave data type {code:#x} at byte {offset} ({what})")]
    UnsupportedType {
        /// Igor's type code.
        code: u16,
        /// Byte offset of the type field.
        offset: usize,
        /// What the code means.
        what: &'static str,
    },
    /// The wave is not an image (2-D) or an image stack (3-D `[points, lines, channels]`).
    #[error("wave {name:?} is not an image: dimensions {dims:?} (need [points, lines] or [points, lines, channels])")]
    NotAnImage {
        /// The wave's name.
        name: String,
        /// Its dimensions.
        dims: Vec<usize>,
    },
    /// The wave carries no scan geometry: no Asylum note keys and no dimension scaling in metres.
    #[error("wave {name:?} has no scan geometry (no ScanSize in its note, and its x/y scaling is not in metres)")]
    NoGeometry {
        /// The wave's name.
        name: String,
    },
    /// A note value that must be a number is not one, or is impossible.
    #[error("note key {key}: value {value:?} {why}")]
    BadNoteValue {
        /// The note key, e.g. "ScanSize".
        key: String,
        /// The value text.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The frame handed to the writer cannot be stored as a version-5 wave.
    #[error("cannot write frame as .ibw: {0}")]
    InvalidFrame(String),
}
