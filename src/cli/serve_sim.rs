//! `afm-spark serve-sim`: the MFP-3D bridge protocol served by the simulator, so the whole closed loop
//! can run over a real socket or a real serial line exactly as it would against Igor.

use afm_drivers::mfp3d::token::DEFAULT_TOKEN_ENV;
use afm_drivers::mfp3d::{BridgeServer, BridgeToken, IbwPayload, ServerConfig};
use afm_drivers::Instrument;
use afm_spark::backend;
use afm_spark::config::RunSpec;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `afm-spark serve-sim`.
#[derive(Debug, Args)]
pub struct ServeSimArgs {
    /// Run configuration whose [simulator] surface and physics, [run] seed and [instrument] timing
    /// the served simulator uses.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// TCP address to listen on. Loopback unless --allow-non-loopback; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7341")]
    pub bind: SocketAddr,
    /// Allow listening on a non-loopback address (anyone on the network who has the token can then
    /// drive the simulator).
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Serve on this serial device instead of TCP (e.g. one end of a socat pty pair).
    #[arg(long, value_name = "DEVICE")]
    pub serial: Option<String>,
    /// Serial line speed, baud.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Environment variable holding the token clients must present.
    #[arg(long, value_name = "VAR", default_value = DEFAULT_TOKEN_ENV)]
    pub token_env: String,
    /// File whose first line is the token (instead of --token-env).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Interval between heartbeats while a frame scans, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub heartbeat_s: f64,
}

/// Serves until interrupted (Ctrl-C) or the serial line fails.
pub fn run(args: ServeSimArgs) -> anyhow::Result<()> {
    let spec = RunSpec::load(&args.config)?;
    let token = match &args.token_file {
        Some(f) => BridgeToken::from_file(f)?,
        None => BridgeToken::from_env(&args.token_env)?,
    };
    let surface = backend::run_surface(&spec)?;
    let sim: Arc<dyn Instrument> = Arc::new(backend::simulator(&spec, surface)?);
    let mut config = ServerConfig::new(token);
    config.bind = args.bind;
    config.allow_non_loopback = args.allow_non_loopback;
    if !(args.heartbeat_s.is_finite() && args.heartbeat_s > 0.0) {
        anyhow::bail!("--heartbeat-s {} must be a positive number of seconds", args.heartbeat_s);
    }
    config.heartbeat_interval = Duration::from_secs_f64(args.heartbeat_s);
    let server = BridgeServer::new(sim, Arc::new(IbwPayload), config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let serve = async {
            match &args.serial {
                Some(path) => {
                    println!("serving on serial {path} at {} baud", args.baud);
                    let _ = std::io::stdout().flush();
                    server.serve_serial(path, args.baud).await.with_context(|| format!("serial bridge on {path}"))
                }
                None => {
                    let bound = server.bind().await?;
                    // The first stdout line names the bound address (scripts and tests read it).
                    println!("listening on {}", bound.local_addr());
                    let _ = std::io::stdout().flush();
                    server.serve_tcp(bound).await.context("bridge server")
                }
            }
        };
        tokio::select! {
            r = serve => r,
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted; bridge closed");
                Ok(())
            }
        }
    })
}
