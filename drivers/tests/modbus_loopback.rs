//! Modbus peripherals against real tokio-modbus servers: TCP on 127.0.0.1 (ephemeral port) and RTU over
//! a socat pty pair. Readings arrive scaled and in units (signed/unsigned, 16/32-bit, both word
//! orders); an illegal address gives a typed exception error; configs parse from TOML strictly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "serial_support.rs"]
mod serial_support;

use afm_drivers::peripherals::{ModbusConfig, ModbusPeripheral, Peripheral, PeripheralError, Reading};
use afm_drivers::{ErrorKind, InstrumentError};
use serial_support::PtyPair;
use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;
use tokio_modbus::{ExceptionCode, Request, Response};

/// A register map served by the test servers.
struct Registers {
    holding: HashMap<u16, u16>,
    input: HashMap<u16, u16>,
}

impl Registers {
    fn sample() -> Self {
        let holding = HashMap::from([(10, 456), (20, 0x0001), (21, 0x86A0)]);
        let input = HashMap::from([(0, (-1234i16) as u16), (30, 0xFFFB), (31, 0xFFFF)]);
        Self { holding, input }
    }

    fn read(map: &HashMap<u16, u16>, addr: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        (addr..addr.saturating_add(count)).map(|a| map.get(&a).copied().ok_or(ExceptionCode::IllegalDataAddress)).collect()
    }
}

impl tokio_modbus::server::Service for Registers {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        ready(match req {
            Request::ReadHoldingRegisters(a, n) => Self::read(&self.holding, a, n).map(Response::ReadHoldingRegisters),
            Request::ReadInputRegisters(a, n) => Self::read(&self.input, a, n).map(Response::ReadInputRegisters),
            _ => Err(ExceptionCode::IllegalFunction),
        })
    }
}

fn config_toml(link: &str) -> String {
    format!(
        r#"
name = "stage"
link = {link}
unit_id = 1
timeout_s = 2.0

[[registers]]
name = "stage_temperature"
table = "input"
address = 0
format = "i16"
scale = 0.01
unit = "degC"

[[registers]]
name = "humidity"
table = "holding"
address = 10
format = "u16"
scale = 0.1
unit = "%RH"

[[registers]]
name = "pressure"
table = "holding"
address = 20
format = "u32"
scale = 0.01
unit = "hPa"

[[registers]]
name = "counter"
table = "input"
address = 30
format = "i32"
word_order = "low_first"
offset = 0.5
unit = "counts"
"#
    )
}

fn assert_sample_readings(readings: &[Reading]) {
    let expected =
        [("stage_temperature", -12.34, "degC"), ("humidity", 45.6, "%RH"), ("pressure", 1000.0, "hPa"), ("counter", -4.5, "counts")];
    assert_eq!(readings.len(), expected.len(), "{readings:?}");
    for (r, (name, value, unit)) in readings.iter().zip(expected) {
        assert_eq!((r.name.as_str(), r.unit.as_str()), (name, unit));
        assert!((r.value - value).abs() < 1e-9, "{name}: {} vs {value}", r.value);
    }
}

async fn start_tcp_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Arc::new(Registers::sample());
    tokio::spawn(async move {
        let server = tokio_modbus::server::tcp::Server::new(listener);
        let on_connected = move |stream, socket_addr| {
            let service = service.clone();
            async move { tokio_modbus::server::tcp::accept_tcp_connection(stream, socket_addr, move |_| Ok(Some(service.clone()))) }
        };
        let _ = server.serve(&on_connected, |e| eprintln!("modbus test server: {e}")).await;
    });
    addr
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f).await.expect("finished within 10 s")
}

#[tokio::test]
async fn tcp_readings_arrive_scaled_in_units() {
    let addr = start_tcp_server().await;
    let config: ModbusConfig = toml::from_str(&config_toml(&format!(r#"{{ tcp = {{ address = "{addr}" }} }}"#))).unwrap();
    let stage = ModbusPeripheral::new(config).unwrap();
    assert_eq!(stage.name(), "stage");
    assert_sample_readings(&bounded(stage.read()).await.unwrap());
    // The connection is reused for a second read.
    assert_sample_readings(&bounded(stage.read()).await.unwrap());
}

#[tokio::test]
async fn modbus_exception_is_a_typed_error_not_a_panic() {
    let addr = start_tcp_server().await;
    let mut config: ModbusConfig = toml::from_str(&config_toml(&format!(r#"{{ tcp = {{ address = "{addr}" }} }}"#))).unwrap();
    config.registers[1].address = 99; // nothing there
    let stage = ModbusPeripheral::new(config).unwrap();
    let typed = bounded(stage.read_typed()).await.unwrap_err();
    assert!(matches!(typed, PeripheralError::Exception { code: 0x02, ref register, .. } if register == "humidity"), "{typed}");
    let err: InstrumentError = bounded(stage.read()).await.unwrap_err();
    assert!(matches!(err, InstrumentError::Instrument { ref code, .. } if code == "modbus_exception_0x02"), "{err}");
}

#[tokio::test]
async fn unreachable_device_is_a_transport_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config: ModbusConfig = toml::from_str(&config_toml(&format!(r#"{{ tcp = {{ address = "{addr}" }} }}"#))).unwrap();
    let err = bounded(ModbusPeripheral::new(config).unwrap().read()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
}

#[tokio::test]
async fn rtu_readings_arrive_over_a_pty_pair() {
    let Some(pty) = PtyPair::start().await else { return };
    let server = tokio_modbus::server::rtu::Server::new_from_path(&pty.a, 19_200).expect("open the server end");
    let serving = tokio::spawn(async move { server.serve_forever(Arc::new(Registers::sample())).await });
    let link = format!(r#"{{ rtu = {{ path = "{}", baud_rate = 19200 }} }}"#, pty.b);
    let stage = ModbusPeripheral::new(toml::from_str(&config_toml(&link)).unwrap()).unwrap();
    assert_sample_readings(&bounded(stage.read()).await.unwrap());
    serving.abort();
    pty.kill().await;
}

#[test]
fn config_rejects_unknown_keys_and_bad_values() {
    let typo = config_toml(r#"{ tcp = { address = "127.0.0.1:502" } }"#).replace("scale = 0.1", "scael = 0.1");
    assert!(toml::from_str::<ModbusConfig>(&typo).unwrap_err().to_string().contains("scael"));
    let bad_link = config_toml(r#"{ udp = { address = "127.0.0.1:502" } }"#);
    assert!(toml::from_str::<ModbusConfig>(&bad_link).is_err());
    let mut config: ModbusConfig = toml::from_str(&config_toml(r#"{ tcp = { address = "127.0.0.1:502" } }"#)).unwrap();
    config.registers[0].scale = f64::NAN;
    assert!(matches!(ModbusPeripheral::new(config), Err(PeripheralError::Config(_))));
}
