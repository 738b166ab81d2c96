//! `afm-spark serve-sim`: the simulator behind a faithful fake of ZeroMQ-XOP running afm-spark's Igor
//! procedures, so the real-instrument path (`configs/mfp3d-sim.toml`) can be rehearsed end to end over
//! real ZeroMQ sockets.

use afm_drivers::mfp3d::token::DEFAULT_TOKEN_ENV;
use afm_drivers::mfp3d::{BridgeToken, FakeConfig, FakeXop};
use afm_drivers::Instrument;
use afm_spark::backend;
use afm_spark::config::RunSpec;
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The wire the simulator is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServeTransport {
    /// ZeroMQ-XOP's ROUTER (JSON requests ≤ 1024 bytes) and, with --pub-bind, its PUB socket.
    #[value(name = "zeromq-xop")]
    ZeromqXop,
}

/// Arguments of `afm-spark serve-sim`.
#[derive(Debug, Args)]
pub struct ServeSimArgs {
    /// Run configuration whose [simulator] surface and physics, [run] seed and [instrument] timing
    /// the served simulator uses.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The protocol served.
    #[arg(long, value_enum, default_value = "zeromq-xop")]
    pub transport: ServeTransport,
    /// ROUTER address. Loopback unless --allow-non-loopback; port 0 picks a free port.
    #[arg(long, value_name = "ENDPOINT", default_value = "tcp://127.0.0.1:5670")]
    pub bind: String,
    /// Also publish finished layers as raw float32 on this PUB address (zeromq_pub_send_multi).
    #[arg(long, value_name = "ENDPOINT")]
    pub pub_bind: Option<String>,
    /// Allow binding a non-loopback address (the XOP has no authentication: anyone reaching the port
    /// can call any procedure; the token guards only afm-spark's).
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Environment variable holding the token Spark_Hello accepts.
    #[arg(long, value_name = "VAR", default_value = DEFAULT_TOKEN_ENV)]
    pub token_env: String,
    /// File whose first line is the token (instead of --token-env).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// A frame whose client sends no ping for this long is stopped (and `watchdog` logged), seconds.
    #[arg(long, default_value_t = 5.0)]
    pub watchdog_s: f64,
    /// Inject a fault (repeatable): lose-replies=N, slow-replies=N, slow-reply-s=S, pub-gaps=N,
    /// region-offset-px=PX.
    #[arg(long, value_name = "KEY=VALUE")]
    pub fault: Vec<String>,
}

/// Serves until interrupted (Ctrl-C or SIGTERM).
pub fn run(args: ServeSimArgs) -> anyhow::Result<()> {
    let ServeTransport::ZeromqXop = args.transport;
    let spec = RunSpec::load(&args.config)?;
    let token = match &args.token_file {
        Some(f) => BridgeToken::from_file(f)?,
        None => BridgeToken::from_env(&args.token_env)?,
    };
    if !(args.watchdog_s.is_finite() && args.watchdog_s > 0.0) {
        anyhow::bail!("--watchdog-s {} must be a positive number of seconds", args.watchdog_s);
    }
    let surface = backend::run_surface(&spec)?;
    let sim: Arc<dyn Instrument> = Arc::new(backend::simulator(&spec, surface)?);
    let mut config = FakeConfig::new(token);
    config.bind = args.bind.clone();
    config.pub_bind = args.pub_bind.clone();
    config.allow_non_loopback = args.allow_non_loopback;
    config.watchdog = Duration::from_secs_f64(args.watchdog_s);
    let fake = FakeXop::new(sim, config);
    for f in &args.fault {
        fake.faults().apply(f)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let bound = fake.bind().await?;
        // The first stdout line names the bound addresses (scripts and tests read it).
        match &bound.pub_address {
            Some(p) => println!("listening on {} pub {p}", bound.address),
            None => println!("listening on {}", bound.address),
        }
        let _ = std::io::stdout().flush();
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            r = fake.serve(bound) => r.context("fake ZeroMQ-XOP server"),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted; fake XOP closed");
                Ok(())
            }
            _ = term.recv() => {
                tracing::info!("terminated; fake XOP closed");
                Ok(())
            }
        }
    })
}
