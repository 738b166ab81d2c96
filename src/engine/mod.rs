//! The run engine: carries an [`AcquisitionPlan`](crate::plan::AcquisitionPlan) out through a
//! `Microscope` — LR frame, indicators and picks, then one HR patch per pick — journaling every frame
//! in the session file before the next request goes out, and reporting progress over a crossbeam
//! channel. A resumed session acquires only what is missing.

mod acquire;
mod events;
mod live_view;
mod worker_link;

pub use acquire::{acquire, acquire_with, channel_data, read_peripherals, selection_from_lr, AcquisitionOutcome, EngineError};
pub use events::ProgressEvent;
pub use live_view::{write_live_view, LIVE_FILE};
pub use worker_link::{Journaled, LatestReconstruction, PickRequest, WorkerLink};
