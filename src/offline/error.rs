//! The one error type of offline work: every variant names the file, option or value at fault, so
//! the command line can print it as one clear line.

use crate::io::session::SessionError;
use crate::io::IoError;
use std::path::PathBuf;

/// Why an offline selection, training or reconstruction could not be done.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// A data file could not be read (missing, unreadable, wrong format, no such channel, NaN).
    #[error(transparent)]
    Io(#[from] IoError),
    /// An option or configuration value out of range.
    #[error("{option} = {value}: {why}")]
    Invalid {
        /// The option or config key, e.g. `--grid` or `select.weights.lambda`.
        option: String,
        /// Its value as given.
        value: String,
        /// What is expected.
        why: String,
    },
    /// The HR and LR images cannot be related as a pair.
    #[error("{hr} ({hr_points}×{hr_lines} px) and {lr} ({lr_points}×{lr_lines} px): {why}")]
    Pair {
        /// The HR file.
        hr: PathBuf,
        /// HR points per line.
        hr_points: usize,
        /// HR lines.
        hr_lines: usize,
        /// The LR file.
        lr: PathBuf,
        /// LR points per line.
        lr_points: usize,
        /// LR lines.
        lr_lines: usize,
        /// What does not fit.
        why: String,
    },
    /// A run configuration file could not be read or parsed.
    #[error("{path}: {why}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong (the parser's message names line and key).
        why: String,
    },
    /// A checkpoint folder is missing files or does not fit the images.
    #[error("{path}: {why}")]
    Checkpoint {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// An output file or folder could not be written.
    #[error("{path}: {why}")]
    Output {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        why: String,
    },
    /// The session file could not be read.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The selection, training, reconstruction or scoring failed (the message says which).
    #[error("{stage}: {why}")]
    Stage {
        /// "tile selection", "training n4", "reconstruction", "metrics" …
        stage: String,
        /// The library's message.
        why: String,
    },
}

impl OfflineError {
    /// An [`OfflineError::Invalid`].
    pub fn invalid(option: impl Into<String>, value: impl std::fmt::Display, why: impl Into<String>) -> Self {
        Self::Invalid { option: option.into(), value: value.to_string(), why: why.into() }
    }

    /// An [`OfflineError::Stage`] from any displayable error.
    pub fn stage(stage: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Stage { stage: stage.into(), why: e.to_string() }
    }

    /// An [`OfflineError::Output`] from any displayable error.
    pub fn output(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        Self::Output { path: path.to_path_buf(), why: e.to_string() }
    }
}
