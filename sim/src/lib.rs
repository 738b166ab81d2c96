//! afm-sim: the digital twin of afm-spark — ground-truth surfaces (procedural or loaded by the root
//! package), a composable, seeded scan-physics model (PI z feedback with tapping-mode loss of contact
//! and slew limit, paraboloid tip dilation with optional double tip, sensor noise, 1/f line offsets,
//! thermal drift, scanner bow), and [`SimulatedAfm`], which implements [`afm_drivers::Instrument`].
//!
//! ```no_run
//! use afm_sim::{SimConfig, SimulatedAfm, SurfaceSpec};
//! let surface = SurfaceSpec::default().generate(1).expect("valid spec");
//! let afm = SimulatedAfm::new(surface, SimConfig::default()).expect("valid config");
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bench;
pub mod config;
pub mod error;
pub mod instrument;
pub mod physics;
pub mod surface;

pub use config::{ConfigError, LimitsConfig, SimConfig};
pub use error::SimError;
pub use instrument::{ScanTiming, ScannerState, SimulatedAfm, CHANNELS};
pub use physics::{
    BowConfig, DoubleTipConfig, DriftConfig, FeedbackConfig, LineOffsetConfig, PhysicsConfig, SensorNoiseConfig, TipConfig,
};
pub use surface::{
    GrainsSpec, GratingLayout, GratingSpec, Interpolation, ParticlesSpec, StepDirection, StepSpec, Surface, SurfaceError,
    SurfaceSpec, TerracesSpec,
};
