//! Modbus peripheral configuration as it appears in TOML (`deny_unknown_fields`, unit-suffixed
//! numbers), checked by [`ModbusConfig::validate`] before anything connects.
//!
//! ```toml
//! [[peripherals]]
//! name = "stage"
//! link = { tcp = { address = "127.0.0.1:502" } }   # or { rtu = { path = "/dev/ttyUSB0", baud_rate = 9600 } }
//! unit_id = 1
//! timeout_s = 1.0
//!
//! [[peripherals.registers]]
//! name = "stage_temperature"
//! table = "input"          # "holding" or "input"
//! address = 0
//! format = "i16"           # "u16", "i16", "u32", "i32"
//! scale = 0.1              # value = raw * scale + offset
//! offset = 0.0
//! unit = "degC"
//! ```

use super::error::PeripheralError;
use serde::{Deserialize, Serialize};

/// How to reach a Modbus device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ModbusLink {
    /// Modbus TCP.
    Tcp {
        /// `host:port`, e.g. "192.0.2.10:502".
        address: String,
    },
    /// Modbus RTU over a serial line (8N1).
    Rtu {
        /// Serial device, e.g. "/dev/ttyUSB0".
        path: String,
        /// Line speed, baud.
        baud_rate: u32,
    },
}

/// Which register table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterTable {
    /// Holding registers (function 0x03).
    Holding,
    /// Input registers (function 0x04).
    Input,
}

/// How the raw register value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterFormat {
    /// One register, unsigned.
    U16,
    /// One register, two's complement.
    I16,
    /// Two registers, unsigned.
    U32,
    /// Two registers, two's complement.
    I32,
}

impl RegisterFormat {
    /// Registers this format occupies.
    pub fn registers(self) -> u16 {
        match self {
            RegisterFormat::U16 | RegisterFormat::I16 => 1,
            RegisterFormat::U32 | RegisterFormat::I32 => 2,
        }
    }
}

/// Order of the two registers of a 32-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WordOrder {
    /// The first register holds the high 16 bits (Modbus convention).
    #[default]
    HighFirst,
    /// The first register holds the low 16 bits.
    LowFirst,
}

/// One quantity read from the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterConfig {
    /// Name of the reading, e.g. "stage_temperature".
    pub name: String,
    /// Holding or input registers.
    pub table: RegisterTable,
    /// Address of the (first) register, 0-based as on the wire.
    pub address: u16,
    /// Raw encoding.
    pub format: RegisterFormat,
    /// Word order of 32-bit values.
    #[serde(default)]
    pub word_order: WordOrder,
    /// Multiplier applied to the raw integer.
    #[serde(default = "one")]
    pub scale: f64,
    /// Added after scaling, in `unit`.
    #[serde(default)]
    pub offset: f64,
    /// Unit of the scaled value.
    pub unit: String,
}

fn one() -> f64 {
    1.0
}

fn default_timeout_s() -> f64 {
    1.0
}

/// A Modbus peripheral.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusConfig {
    /// Name used in logs and session files.
    pub name: String,
    /// How to reach it.
    pub link: ModbusLink,
    /// Modbus unit (slave) id.
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    /// Longest wait for connecting or one register read, seconds.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// What to read.
    pub registers: Vec<RegisterConfig>,
}

fn default_unit_id() -> u8 {
    1
}

impl ModbusConfig {
    /// Checks names, numbers and address ranges; the first problem is returned.
    pub fn validate(&self) -> Result<(), PeripheralError> {
        let bad = |m: String| Err(PeripheralError::Config(format!("{}: {m}", self.name)));
        if self.name.trim().is_empty() {
            return Err(PeripheralError::Config("a peripheral needs a name".into()));
        }
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            return bad(format!("timeout_s = {} must be positive", self.timeout_s));
        }
        if self.registers.is_empty() {
            return bad("no registers configured".into());
        }
        for (i, r) in self.registers.iter().enumerate() {
            if r.name.trim().is_empty() {
                return bad(format!("register {i} has no name"));
            }
            if self.registers[..i].iter().any(|o| o.name == r.name) {
                return bad(format!("register name {} used twice", r.name));
            }
            if !(r.scale.is_finite() && r.offset.is_finite()) {
                return bad(format!("{}: scale and offset must be finite", r.name));
            }
            if u32::from(r.address) + u32::from(r.format.registers()) > 0x1_0000 {
                return bad(format!("{}: a 32-bit value cannot start at address {}", r.name, r.address));
            }
        }
        Ok(())
    }
}

/// Scales the raw words of one register entry: `value = raw · scale + offset`.
pub fn scale_words(reg: &RegisterConfig, words: &[u16]) -> Option<f64> {
    let raw = match (reg.format, words) {
        (RegisterFormat::U16, [w, ..]) => f64::from(*w),
        (RegisterFormat::I16, [w, ..]) => f64::from(*w as i16),
        (RegisterFormat::U32 | RegisterFormat::I32, [a, b, ..]) => {
            let (hi, lo) = match reg.word_order {
                WordOrder::HighFirst => (*a, *b),
                WordOrder::LowFirst => (*b, *a),
            };
            let v = (u32::from(hi) << 16) | u32::from(lo);
            if reg.format == RegisterFormat::I32 {
                f64::from(v as i32)
            } else {
                f64::from(v)
            }
        }
        _ => return None,
    };
    Some(raw * reg.scale + reg.offset)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn reg(format: RegisterFormat, word_order: WordOrder, scale: f64, offset: f64) -> RegisterConfig {
        RegisterConfig { name: "x".into(), table: RegisterTable::Holding, address: 0, format, word_order, scale, offset, unit: "u".into() }
    }

    #[test]
    fn scaling_covers_signed_unsigned_and_word_order() {
        assert_eq!(scale_words(&reg(RegisterFormat::U16, WordOrder::HighFirst, 0.1, 0.0), &[0xFFFF]), Some(6553.5));
        assert_eq!(scale_words(&reg(RegisterFormat::I16, WordOrder::HighFirst, 0.1, 0.0), &[0xFFFF]), Some(-0.1));
        assert_eq!(scale_words(&reg(RegisterFormat::I16, WordOrder::HighFirst, 1.0, -273.15), &[300]), Some(300.0 - 273.15));
        assert_eq!(scale_words(&reg(RegisterFormat::U32, WordOrder::HighFirst, 1.0, 0.0), &[0x0001, 0x0002]), Some(65538.0));
        assert_eq!(scale_words(&reg(RegisterFormat::U32, WordOrder::LowFirst, 1.0, 0.0), &[0x0002, 0x0001]), Some(65538.0));
        assert_eq!(scale_words(&reg(RegisterFormat::I32, WordOrder::HighFirst, 0.001, 0.0), &[0xFFFF, 0xFC18]), Some(-1.0));
        assert_eq!(scale_words(&reg(RegisterFormat::U32, WordOrder::HighFirst, 1.0, 0.0), &[1]), None);
    }

    #[test]
    fn validation_names_the_problem() {
        let good = ModbusConfig {
            name: "stage".into(),
            link: ModbusLink::Tcp { address: "127.0.0.1:502".into() },
            unit_id: 1,
            timeout_s: 1.0,
            registers: vec![reg(RegisterFormat::U16, WordOrder::HighFirst, 1.0, 0.0)],
        };
        assert!(good.validate().is_ok());
        let mut twice = good.clone();
        twice.registers.push(twice.registers[0].clone());
        assert!(twice.validate().unwrap_err().to_string().contains("used twice"));
        let mut edge = good.clone();
        edge.registers[0].format = RegisterFormat::I32;
        edge.registers[0].address = 0xFFFF;
        assert!(edge.validate().is_err());
        let mut slow = good;
        slow.timeout_s = 0.0;
        assert!(slow.validate().unwrap_err().to_string().contains("timeout_s"));
    }
}
