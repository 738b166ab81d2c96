//! Errors an instrument, or the policy wrapped around it, can report — each with the context an
//! operator needs to act on it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Everything that can go wrong talking to a microscope.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum InstrumentError {
    /// A request asked for something outside the instrument's limits; nothing was moved.
    #[error("out of range: {what} = {value} (allowed {allowed})")]
    OutOfRange {
        /// The parameter, e.g. "scan width" or "line rate".
        what: String,
        /// The requested value, with its unit.
        value: String,
        /// The allowed range, with its unit.
        allowed: String,
    },
    /// The backend does not offer this capability.
    #[error("{backend} does not support {capability}")]
    Unsupported {
        /// The backend's name.
        backend: String,
        /// The capability asked for.
        capability: String,
    },
    /// The instrument is busy with another request.
    #[error("instrument busy: {0}")]
    Busy(String),
    /// A request did not finish in time; the scan was aborted.
    #[error("{operation} timed out after {after_s:.1} s (scan aborted)")]
    Timeout {
        /// What timed out, e.g. "scan 512×512 at 1 Hz".
        operation: String,
        /// How long it was allowed to take, seconds.
        after_s: f64,
    },
    /// The scan was aborted on request.
    #[error("scan aborted: {0}")]
    Aborted(String),
    /// The tip lost contact with the surface (feedback saturated).
    #[error("lost contact: {0}")]
    LostContact(String),
    /// The z feedback reports a tip crash.
    #[error("tip crash: {0}")]
    TipCrash(String),
    /// The link to the instrument is gone.
    #[error("disconnected from {endpoint}: {reason}")]
    Disconnected {
        /// Address or port of the instrument.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// A message broke the protocol (garbled, oversize, unexpected).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The instrument reported an error of its own.
    #[error("instrument error {code}: {message}")]
    Instrument {
        /// The instrument's error code.
        code: String,
        /// The instrument's message.
        message: String,
    },
    /// Data from the instrument could not be understood.
    #[error("bad data from instrument: {0}")]
    Data(String),
}

/// The kind of an [`InstrumentError`], without its context: what retry policies are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// [`InstrumentError::OutOfRange`].
    OutOfRange,
    /// [`InstrumentError::Unsupported`].
    Unsupported,
    /// [`InstrumentError::Busy`].
    Busy,
    /// [`InstrumentError::Timeout`].
    Timeout,
    /// [`InstrumentError::Aborted`].
    Aborted,
    /// [`InstrumentError::LostContact`].
    LostContact,
    /// [`InstrumentError::TipCrash`].
    TipCrash,
    /// [`InstrumentError::Disconnected`].
    Disconnected,
    /// [`InstrumentError::Protocol`].
    Protocol,
    /// [`InstrumentError::Instrument`].
    Instrument,
    /// [`InstrumentError::Data`].
    Data,
}

impl InstrumentError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InstrumentError::OutOfRange { .. } => ErrorKind::OutOfRange,
            InstrumentError::Unsupported { .. } => ErrorKind::Unsupported,
            InstrumentError::Busy(_) => ErrorKind::Busy,
            InstrumentError::Timeout { .. } => ErrorKind::Timeout,
            InstrumentError::Aborted(_) => ErrorKind::Aborted,
            InstrumentError::LostContact(_) => ErrorKind::LostContact,
            InstrumentError::TipCrash(_) => ErrorKind::TipCrash,
            InstrumentError::Disconnected { .. } => ErrorKind::Disconnected,
            InstrumentError::Protocol(_) => ErrorKind::Protocol,
            InstrumentError::Instrument { .. } => ErrorKind::Instrument,
            InstrumentError::Data(_) => ErrorKind::Data,
        }
    }

    /// Shorthand for an [`InstrumentError::OutOfRange`].
    pub fn out_of_range(what: impl Into<String>, value: impl Into<String>, allowed: impl Into<String>) -> Self {
        InstrumentError::OutOfRange { what: what.into(), value: value.into(), allowed: allowed.into() }
    }
}
