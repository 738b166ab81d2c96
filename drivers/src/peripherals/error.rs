//! Peripheral errors, kept typed (a Modbus exception is not a transport failure) and mapped onto
//! [`InstrumentError`] at the [`super::Peripheral`] boundary.

use crate::error::InstrumentError;

/// What can go wrong reading a peripheral.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PeripheralError {
    /// The device answered with a Modbus exception.
    #[error("{device}: Modbus exception 0x{code:02X} ({name}) reading {register}")]
    Exception {
        /// The peripheral's name.
        device: String,
        /// The register (configured name) being read.
        register: String,
        /// The exception code (0x02 = illegal data address, …).
        code: u8,
        /// The exception's name.
        name: String,
    },
    /// The link failed (connect, I/O, framing).
    #[error("{device}: {reason}")]
    Transport {
        /// The peripheral's name.
        device: String,
        /// What happened.
        reason: String,
    },
    /// The device did not answer in time.
    #[error("{device}: no answer within {after_s} s")]
    Timeout {
        /// The peripheral's name.
        device: String,
        /// The timeout, seconds.
        after_s: f64,
    },
    /// The configuration is invalid.
    #[error("peripheral config: {0}")]
    Config(String),
}

impl From<PeripheralError> for InstrumentError {
    fn from(e: PeripheralError) -> Self {
        match e {
            PeripheralError::Exception { code, .. } => {
                InstrumentError::Instrument { code: format!("modbus_exception_0x{code:02x}"), message: e.to_string() }
            }
            PeripheralError::Transport { ref device, ref reason } => {
                InstrumentError::Disconnected { endpoint: device.clone(), reason: reason.clone() }
            }
            PeripheralError::Timeout { device, after_s } => InstrumentError::Timeout { operation: format!("read {device}"), after_s },
            PeripheralError::Config(m) => InstrumentError::out_of_range("peripheral config", m, "a valid configuration"),
        }
    }
}
