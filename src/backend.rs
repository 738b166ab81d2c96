//! Building the instrument a run talks to from its validated spec: the simulator (digital twin) with
//! the run's surface, physics, seed and timing, wrapped in the `Microscope` safety policy.

use crate::config::{Backend, RunSpec};
use crate::io::session::{Session, SessionError};
use afm_drivers::mfp3d::Mfp3dXop;
use afm_drivers::peripherals::{ModbusPeripheral, Peripheral, PeripheralError};
use afm_drivers::{Instrument, InstrumentError, Microscope};
use afm_sim::{ScannerState, SimConfig, SimError, SimulatedAfm, Surface};
use std::sync::Arc;
use thiserror::Error;

/// Why the backend could not be built.
#[derive(Debug, Error)]
pub enum BackendError {
    /// The simulator rejected its surface or configuration.
    #[error("simulator: {0}")]
    Simulator(#[from] SimError),
    /// The surface could not be generated.
    #[error("simulator surface: {0}")]
    Surface(#[from] afm_sim::SurfaceError),
    /// The instrument refused to connect or report its limits.
    #[error("instrument: {0}")]
    Instrument(#[from] InstrumentError),
    /// The ground-truth scan failed.
    #[error("ground truth: {0}")]
    GroundTruth(String),
    /// A peripheral's configuration is unusable.
    #[error("peripheral {name}: {source}")]
    Peripheral {
        /// The peripheral's name.
        name: String,
        /// What is wrong.
        #[source]
        source: PeripheralError,
    },
    /// The session file could not be read.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The replayed surface file could not be used.
    #[error(transparent)]
    SurfaceFile(#[from] crate::io::IoError),
}

/// The instrument a run talks to, and the simulated surface behind it when there is one.
pub struct Connected {
    /// The backend, to be wrapped in a `Microscope`.
    pub instrument: Arc<dyn Instrument>,
    /// The simulator's surface (for the ground truth); None for a real instrument.
    pub surface: Option<Surface>,
}

/// Builds the configured backend. A simulator resuming `session` continues from the journaled
/// instrument clock and tip position.
pub fn connect(spec: &RunSpec, session: Option<&Session>) -> Result<Connected, BackendError> {
    match spec.config.instrument.backend {
        Backend::Simulator => {
            let surface = run_surface(spec)?;
            let sim = simulator(spec, surface.clone())?;
            if let Some(state) = session.map(|s| journaled_scanner_state(s, &sim)).transpose()?.flatten() {
                tracing::info!(clock_s = state.clock_s, "simulator resumes from the journaled instrument clock and tip position");
                sim.set_scanner_state(state);
            }
            let instrument: Arc<dyn Instrument> = Arc::new(sim);
            register_for_interrupt(&instrument);
            Ok(Connected { instrument, surface: Some(surface) })
        }
        Backend::Mfp3d => {
            let settings = spec.config.instrument.bridge.clone().unwrap_or_default();
            let client: Arc<dyn Instrument> = Arc::new(Mfp3dXop::new(settings.client_config()?, settings.token()?));
            register_for_interrupt(&client);
            Ok(Connected { instrument: client, surface: None })
        }
    }
}

/// The instruments built by [`connect`] in this process, for [`abort_all_on_interrupt`].
static INTERRUPTIBLE: std::sync::Mutex<Vec<std::sync::Weak<dyn Instrument>>> = std::sync::Mutex::new(Vec::new());

fn register_for_interrupt(instrument: &Arc<dyn Instrument>) {
    let mut list = INTERRUPTIBLE.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|w| w.strong_count() > 0);
    list.push(Arc::downgrade(instrument));
}

/// Tells every live instrument built by [`connect`] to abort (for Ctrl-C / SIGTERM): each abort is
/// given `per_instrument` to be acknowledged. Returns how many acknowledged.
pub async fn abort_all_on_interrupt(per_instrument: std::time::Duration) -> usize {
    let live: Vec<Arc<dyn Instrument>> =
        INTERRUPTIBLE.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(std::sync::Weak::upgrade).collect();
    let mut acknowledged = 0;
    for instrument in live {
        match tokio::time::timeout(per_instrument, instrument.abort()).await {
            Ok(Ok(())) => acknowledged += 1,
            Ok(Err(e)) => tracing::warn!("abort of {} failed: {e}", instrument.name()),
            Err(_) => tracing::warn!("abort of {} not acknowledged within {:.1} s", instrument.name(), per_instrument.as_secs_f64()),
        }
    }
    acknowledged
}

/// The configured lab peripherals (Modbus).
pub fn peripherals(spec: &RunSpec) -> Result<Vec<Arc<dyn Peripheral>>, BackendError> {
    spec.config
        .peripherals
        .iter()
        .map(|c| {
            ModbusPeripheral::new(c.clone())
                .map(|p| Arc::new(p) as Arc<dyn Peripheral>)
                .map_err(|source| BackendError::Peripheral { name: c.name.clone(), source })
        })
        .collect()
}

/// The simulator configuration a run implies.
pub fn sim_config(spec: &RunSpec) -> SimConfig {
    let c = &spec.config;
    SimConfig {
        seed: c.run.seed,
        physics: c.simulator.physics.clone(),
        settle_s: c.instrument.settle_s,
        move_speed_m_per_s: c.instrument.move_speed_m_per_s,
        realtime: c.simulator.realtime,
        time_scale: c.simulator.time_scale.unwrap_or(1.0),
        limits: c.simulator.limits.clone(),
    }
}

/// The run's surface: the replayed file when `simulator.surface_file` is set (in its own scan frame,
/// angle 0, whatever its scan angle), else the procedural one.
pub fn run_surface(spec: &RunSpec) -> Result<Surface, BackendError> {
    let sim = &spec.config.simulator;
    match &sim.surface_file {
        Some(path) => {
            let loaded = crate::io::load(path)?;
            let channel = loaded.channel(sim.surface_channel.as_deref())?;
            // In the scan's own frame (see `RunSpec::replay`): a surface is stored unrotated.
            let region = afm_drivers::ScanRegion { angle_deg: 0.0, ..loaded.frame.region };
            Ok(Surface::from_array(channel.data.clone(), region)?)
        }
        None => Ok(sim.surface.generate(spec.config.run.seed)?),
    }
}

/// A simulator over `surface` configured by `spec`.
pub fn simulator(spec: &RunSpec, surface: Surface) -> Result<SimulatedAfm, BackendError> {
    Ok(SimulatedAfm::new(surface, sim_config(spec))?)
}

/// Wraps `backend` in the run's safety policy (and its narrower limits, if configured).
pub async fn microscope(backend: Arc<dyn Instrument>, spec: &RunSpec) -> Result<Microscope, BackendError> {
    let policy = spec.config.instrument.policy.clone();
    Ok(match &spec.config.instrument.limits {
        Some(narrower) => Microscope::with_limits(backend, policy, narrower.clone()).await?,
        None => Microscope::new(backend, policy).await?,
    })
}

/// The simulator state a run journaled in `session` had reached: `sim` (freshly created) replays the
/// journaled frames in acquisition order — instrument clock, where the last frame left the tip, and
/// the piezo-creep history of the offset moves. Restoring it makes a resumed dry run continue exactly
/// as an uninterrupted one (drift and creep included).
pub fn journaled_scanner_state(session: &Session, sim: &SimulatedAfm) -> Result<Option<ScannerState>, SessionError> {
    let Some(lr) = session.lr()? else { return Ok(None) };
    let patches = session.patches()?;
    Ok(Some(sim.state_after(std::iter::once(&lr).chain(patches.iter().map(|p| &p.frame)))))
}
