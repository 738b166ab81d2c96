//! afm-drivers: the shared vocabulary of afm-spark (scan geometry, frames, errors) and everything that
//! talks to a microscope — the `Instrument` trait, the `Microscope` safety wrapper, a scripted mock,
//! the MFP-3D bridge client and Modbus lab peripherals. No tch and no hdf5 in this crate.

pub mod error;
pub mod frame;
pub mod geometry;
pub mod ibw;
pub mod instrument;
pub mod mfp3d;
pub mod microscope;
pub mod mock;
pub mod peripherals;

pub use error::{ErrorKind, InstrumentError};
pub use frame::{ChannelImage, Frame, ScanDirection};
pub use geometry::{PixelRect, Raster, ScanRegion};
pub use instrument::{Directions, Instrument, InstrumentLimits, InstrumentState, InstrumentStatus, ScanRequest};
pub use microscope::{Microscope, MicroscopePolicy};
pub use mock::MockInstrument;
