//! A Modbus device (TCP, or RTU over a serial line through [`SerialLink`]) as a [`Peripheral`]:
//! reads each configured register, scales it and returns it with its unit. tokio-modbus's nested
//! `Result<Result<_, ExceptionCode>, Error>` is flattened here into [`PeripheralError`]; a transport
//! failure or timeout drops the connection so the next read reconnects, an exception keeps it.

use super::config::{scale_words, ModbusConfig, ModbusLink, RegisterConfig, RegisterTable};
use super::error::PeripheralError;
use super::serial::SerialLink;
use super::{Peripheral, Reading};
use crate::error::InstrumentError;
use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_modbus::client::{rtu, tcp, Context, Reader};
use tokio_modbus::Slave;
use tracing::debug;

/// A Modbus peripheral. Connects on first read.
pub struct ModbusPeripheral {
    config: ModbusConfig,
    context: Mutex<Option<Context>>,
}

impl std::fmt::Debug for ModbusPeripheral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModbusPeripheral").field("config", &self.config).finish_non_exhaustive()
    }
}

impl ModbusPeripheral {
    /// A peripheral for a validated `config`.
    pub fn new(config: ModbusConfig) -> Result<Self, PeripheralError> {
        config.validate()?;
        Ok(Self { config, context: Mutex::new(None) })
    }

    /// The configuration.
    pub fn config(&self) -> &ModbusConfig {
        &self.config
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.config.timeout_s)
    }

    fn transport(&self, reason: impl std::fmt::Display) -> PeripheralError {
        PeripheralError::Transport { device: self.config.name.clone(), reason: reason.to_string() }
    }

    fn timed_out(&self) -> PeripheralError {
        PeripheralError::Timeout { device: self.config.name.clone(), after_s: self.config.timeout_s }
    }

    async fn connect(&self) -> Result<Context, PeripheralError> {
        let slave = Slave(self.config.unit_id);
        match &self.config.link {
            ModbusLink::Tcp { address } => {
                let connect = async {
                    let addr = tokio::net::lookup_host(address.as_str())
                        .await
                        .map_err(|e| self.transport(format!("cannot resolve {address}: {e}")))?
                        .next()
                        .ok_or_else(|| self.transport(format!("{address} resolves to nothing")))?;
                    tcp::connect_slave(addr, slave).await.map_err(|e| self.transport(format!("cannot connect to {address}: {e}")))
                };
                tokio::time::timeout(self.timeout(), connect).await.map_err(|_| self.timed_out())?
            }
            ModbusLink::Rtu { path, baud_rate } => {
                let (p, baud) = (path.clone(), *baud_rate);
                let link = tokio::task::spawn_blocking(move || SerialLink::open(&p, baud))
                    .await
                    .map_err(|e| self.transport(e))?
                    .map_err(|e| self.transport(format!("cannot open {path}: {e}")))?;
                Ok(rtu::attach_slave(link, slave))
            }
        }
    }

    /// Reads every register, keeping the typed error.
    pub async fn read_typed(&self) -> Result<Vec<Reading>, PeripheralError> {
        let mut slot = self.context.lock().await;
        let mut readings = Vec::with_capacity(self.config.registers.len());
        for reg in &self.config.registers {
            if slot.is_none() {
                *slot = Some(self.connect().await?);
            }
            let Some(ctx) = slot.as_mut() else { continue };
            match self.read_one(ctx, reg).await {
                Ok(r) => readings.push(r),
                Err(e) => {
                    if !matches!(e, PeripheralError::Exception { .. }) {
                        debug!(device = %self.config.name, "dropping the Modbus connection after: {e}");
                        *slot = None;
                    }
                    return Err(e);
                }
            }
        }
        Ok(readings)
    }

    async fn read_one(&self, ctx: &mut Context, reg: &RegisterConfig) -> Result<Reading, PeripheralError> {
        let n = reg.format.registers();
        let call = async {
            match reg.table {
                RegisterTable::Holding => ctx.read_holding_registers(reg.address, n).await,
                RegisterTable::Input => ctx.read_input_registers(reg.address, n).await,
            }
        };
        let words = match tokio::time::timeout(self.timeout(), call).await {
            Err(_) => return Err(self.timed_out()),
            Ok(Err(e)) => return Err(self.transport(format!("reading {}: {e}", reg.name))),
            Ok(Ok(Err(exception))) => {
                return Err(PeripheralError::Exception {
                    device: self.config.name.clone(),
                    register: reg.name.clone(),
                    code: u8::from(exception),
                    name: exception.to_string(),
                })
            }
            Ok(Ok(Ok(words))) => words,
        };
        let value =
            scale_words(reg, &words).ok_or_else(|| self.transport(format!("{}: expected {n} registers, got {}", reg.name, words.len())))?;
        Ok(Reading { name: reg.name.clone(), value, unit: reg.unit.clone() })
    }
}

#[async_trait]
impl Peripheral for ModbusPeripheral {
    fn name(&self) -> String {
        self.config.name.clone()
    }

    async fn read(&self) -> Result<Vec<Reading>, InstrumentError> {
        Ok(self.read_typed().await?)
    }
}
