//! `GwyError`: what can be wrong with a Gwyddion `.gwy` buffer, or with what we were asked to write
//! as one. Every variant says where (byte offset, container key or component) and what was found.

use thiserror::Error;

/// A `.gwy` buffer that cannot be decoded, or data that cannot be encoded as one.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GwyError {
    /// The first four bytes are not `GWYP`.
    #[error("not a Gwyddion GWYP file: the first bytes are {found:02x?}, expected \"GWYP\" (47 57 59 50)")]
    BadMagic {
        /// The first (up to four) bytes of the buffer.
        found: Vec<u8>,
    },
    /// The buffer ends inside a field.
    #[error("truncated: {what} needs bytes {offset}..{end} but its enclosing object ends at byte {limit}")]
    Truncated {
        /// What was being read, e.g. "size of object GwyDataField" or "component \"data\" (2 doubles)".
        what: String,
        /// First byte of it.
        offset: usize,
        /// One past its last byte (saturated at `usize::MAX`).
        end: usize,
        /// Where the enclosing object (or the buffer) ends.
        limit: usize,
    },
    /// A structural rule of the format is broken (a string without its NUL, an unknown type
    /// character, an object whose declared size disagrees with its components, trailing bytes …).
    #[error("malformed at byte {offset}: {what}")]
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong, naming the component or object.
        what: String,
    },
    /// Objects nest deeper than we follow (a corrupt or hostile file).
    #[error("objects nested deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// Byte offset of the object that is one level too deep.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// A data field or container entry holds an impossible value.
    #[error("{key}: {what}")]
    BadField {
        /// The container key, e.g. "/0/data".
        key: String,
        /// What is wrong, naming the component and the value found, e.g. "xres is the integer -3 …".
        what: String,
    },
    /// The container holds no data field (image channel) under `/N/data`.
    #[error("no image channel: the file holds no GwyDataField under /N/data (keys: {keys})")]
    NoDataField {
        /// The top-level keys found (shortened), to show what the file holds instead.
        keys: String,
    },
    /// What we were asked to write cannot be stored as a `.gwy`.
    #[error("cannot write .gwy: {0}")]
    Unwritable(String),
}
