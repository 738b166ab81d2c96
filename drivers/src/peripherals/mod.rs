//! Lab auxiliaries logged beside each frame (temperature stage, environmental controller): a small
//! [`Peripheral`] trait returning named readings with units, and a Modbus backend (TCP, or RTU over a
//! serial line) configured from TOML.

pub mod config;
pub mod error;
pub mod modbus;
pub mod serial;

use crate::error::InstrumentError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use config::{ModbusConfig, ModbusLink, RegisterConfig, RegisterFormat, RegisterTable, WordOrder};
pub use error::PeripheralError;
pub use modbus::ModbusPeripheral;

/// One reading of a peripheral.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// What was read, e.g. "stage_temperature".
    pub name: String,
    /// The scaled value, in `unit`.
    pub value: f64,
    /// Unit of `value`, e.g. "degC", "%RH", "Pa".
    pub unit: String,
}

/// A lab auxiliary that can be read.
#[async_trait]
pub trait Peripheral: Send + Sync {
    /// A short name for logs and session files, e.g. "stage".
    fn name(&self) -> String;

    /// Reads every configured quantity, in configuration order.
    async fn read(&self) -> Result<Vec<Reading>, InstrumentError>;
}
