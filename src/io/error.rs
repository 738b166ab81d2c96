//! `IoError`: everything that can go wrong reading or writing a data file. Every variant names the
//! file and says what is wrong with it (field, value, offset or shape), so the CLI can print it as one
//! line. The underlying error is part of the message (and not repeated through `source()`), so an
//! error chain printed with ": " separators says everything once.

use super::gwy::GwyError;
use afm_drivers::ibw::IbwError;
use std::path::PathBuf;
use thiserror::Error;

/// A data file that cannot be read or written.
#[derive(Debug, Error)]
pub enum IoError {
    /// The file cannot be opened, read or written at the OS level.
    #[error("{path}: {action}: {cause}")]
    Os {
        /// The file.
        path: PathBuf,
        /// What we were doing, e.g. "cannot read".
        action: &'static str,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The file is empty.
    #[error("{path}: file is empty (0 bytes)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Neither the first bytes nor the extension identify a format we read.
    #[error("{path}: not an Igor binary wave, Gwyddion .gwy, pyNSID HDF5 or .npy file (first bytes {head}, extension {extension:?})")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// The first bytes, in hex.
        head: String,
        /// The file's extension ("" if none).
        extension: String,
    },
    /// The Igor binary wave is malformed or not an image.
    #[error("{path}: {cause}")]
    Ibw {
        /// The file.
        path: PathBuf,
        /// What the codec found.
        cause: IbwError,
    },
    /// The Gwyddion file is malformed, holds no image channel, or cannot be written.
    #[error("{path}: {cause}")]
    Gwy {
        /// The file.
        path: PathBuf,
        /// What the codec found.
        cause: GwyError,
    },
    /// The HDF5 library refused an operation.
    #[error("{path}: {what}: {cause}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What we were doing, e.g. "cannot open as HDF5" or "reading /Measurement_000/Channel_0".
        what: String,
        /// The library's error.
        cause: hdf5::Error,
    },
    /// The HDF5 file opens but does not hold the pyNSID layout we need.
    #[error("{path}: not a usable pyNSID file: {what}")]
    Nsid {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong, with the object path.
        what: String,
    },
    /// The .npy file is malformed or holds an unsupported array.
    #[error("{path}: .npy: {what}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong (from the .npy reader, or our shape/dtype checks).
        what: String,
    },
    /// An array has a shape we cannot use.
    #[error("{path}: {what} has shape {found:?}, expected {expected}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// Which array.
        what: String,
        /// The shape found.
        found: Vec<usize>,
        /// What was expected, in words.
        expected: String,
    },
    /// The requested channel is not in the file.
    #[error("{path}: no channel {wanted:?} (available: {})", available.join(", "))]
    NoSuchChannel {
        /// The file.
        path: PathBuf,
        /// The label or name asked for ("first height channel" when none was given).
        wanted: String,
        /// The labels present.
        available: Vec<String>,
    },
    /// The chosen channel holds NaN or infinite values; a model cannot train on it.
    #[error("{path}: channel {channel} has {count} non-finite (NaN/inf) values, the first at line {line}, point {point}")]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The channel label.
        channel: String,
        /// How many values are NaN or infinite.
        count: usize,
        /// Line (row) of the first one.
        line: usize,
        /// Point (column) of the first one.
        point: usize,
    },
    /// What we were asked to write cannot be stored in this format.
    #[error("{path}: cannot write: {what}")]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// Why.
        what: String,
    },
}

impl IoError {
    /// Shorthand for an [`IoError::Os`].
    pub(crate) fn os(path: &std::path::Path, action: &'static str, cause: std::io::Error) -> Self {
        IoError::Os { path: path.to_path_buf(), action, cause }
    }

    /// Shorthand for an [`IoError::Hdf5`].
    pub(crate) fn hdf5(path: &std::path::Path, what: impl Into<String>, cause: hdf5::Error) -> Self {
        IoError::Hdf5 { path: path.to_path_buf(), what: what.into(), cause }
    }

    /// Shorthand for an [`IoError::Nsid`].
    pub(crate) fn nsid(path: &std::path::Path, what: impl Into<String>) -> Self {
        IoError::Nsid { path: path.to_path_buf(), what: what.into() }
    }
}
