//! Configuration errors: each names the file, and where it applies the field and the value.

use std::path::PathBuf;
use thiserror::Error;

/// What is wrong with a run configuration.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The TOML is malformed or has unknown / mistyped keys.
    #[error("{}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        reason: String,
    },
    /// A value is out of its allowed range.
    #[error("{}: {field} = {value}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, e.g. "select.n_select".
        field: String,
        /// The offending value.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// The configuration could not be written back as TOML.
    #[error("{}: cannot serialise config: {reason}", path.display())]
    Serialize {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}
