//! Errors of building a simulator: a bad config or a bad surface. Scans report
//! [`afm_drivers::InstrumentError`] like every other backend.

use crate::config::ConfigError;
use crate::surface::SurfaceError;
use thiserror::Error;

/// Why a [`crate::SimulatedAfm`] could not be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SimError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The surface is invalid, or could not be tip-dilated.
    #[error(transparent)]
    Surface(#[from] SurfaceError),
}
