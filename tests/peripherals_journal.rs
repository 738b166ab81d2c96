//! Peripheral readings (a real tokio-modbus server on loopback) are taken after every frame and
//! journaled beside it, scaled and in their units; a peripheral that fails never costs a frame.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_drivers::peripherals::{ModbusConfig, ModbusPeripheral, Peripheral};
use afm_drivers::{Microscope, MockInstrument};
use afm_spark::config::RunSpec;
use afm_spark::engine::acquire;
use afm_spark::io::session::Session;
use afm_spark::plan::AcquisitionPlan;
use std::future::{ready, Ready};
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use tokio_modbus::{ExceptionCode, Request, Response};

/// Input register 0 counts reads (so every frame gets a fresh value); nothing else exists.
struct Counter(AtomicU16);

impl tokio_modbus::server::Service for Counter {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;
    fn call(&self, req: Self::Request) -> Self::Future {
        ready(match req {
            Request::ReadInputRegisters(0, 1) => Ok(Response::ReadInputRegisters(vec![2000 + self.0.fetch_add(1, Ordering::SeqCst)])),
            _ => Err(ExceptionCode::IllegalDataAddress),
        })
    }
}

async fn start_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Arc::new(Counter(AtomicU16::new(0)));
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

fn peripheral(addr: &str, register: u16) -> Arc<dyn Peripheral> {
    let cfg: ModbusConfig = toml::from_str(&format!(
        "name = \"stage\"\nlink = {{ tcp = {{ address = \"{addr}\" }} }}\ntimeout_s = 2.0\n[[registers]]\nname = \"stage_temperature\"\ntable = \"input\"\naddress = {register}\nformat = \"i16\"\nscale = 0.01\nunit = \"degC\"\n"
    ))
    .unwrap();
    Arc::new(ModbusPeripheral::new(cfg).unwrap())
}

const CONFIG: &str = "[frame]\nscan_size_m = 10e-6\nhr_points = 64\nhr_lines = 64\nhr_line_rate_hz = 1.0\n[select]\nn_select = 3\n";

#[tokio::test]
async fn readings_are_journaled_with_every_frame_and_failures_cost_nothing() {
    let addr = start_server().await.to_string();
    let spec = RunSpec::from_toml(CONFIG, Path::new("p.toml")).unwrap();
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()));
    let scope = Microscope::new(mock, spec.config.instrument.policy.clone()).await.unwrap();
    let plan = AcquisitionPlan::build(&spec, scope.limits()).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("afm-periph");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let session = Session::create(&dir.join("session.h5"), "", &spec.hash()).unwrap();
    let (tx, _rx) = crossbeam::channel::unbounded();
    // a healthy stage, plus one whose register does not exist (a Modbus exception every read)
    let peripherals = vec![peripheral(&addr, 0), peripheral(&addr, 7)];
    let out = acquire(&scope, &peripherals, &spec, &plan, &session, &tx).await.unwrap();
    assert_eq!(out.patches.len(), 3, "a failing peripheral must not cost a frame");

    let s = Session::open(&dir.join("session.h5")).unwrap();
    let lr = s.lr_readings().unwrap();
    assert_eq!(lr.len(), 1);
    assert_eq!((lr[0].name.as_str(), lr[0].unit.as_str()), ("stage_temperature", "degC"));
    assert!((lr[0].value - 20.00).abs() < 1e-9, "{}", lr[0].value);
    for (k, p) in s.patches().unwrap().iter().enumerate() {
        assert_eq!(p.readings.len(), 1);
        assert!((p.readings[0].value - (20.01 + 0.01 * k as f64)).abs() < 1e-9, "patch {k}: {}", p.readings[0].value);
    }
}
