//! `afm-spark eval`: quality versus acquisition time over a grid of surfaces × patch budgets ×
//! selection strategies. Every grid point is one ordinary closed-loop run in its own folder; the
//! evaluation collects their `metrics.json` into `results.csv`, `report.md` and PSNR-versus-time plots.

mod csv;
mod grid;
mod machine;
mod outputs;
mod row;
mod runner;
mod suite;

pub use csv::{csv_line, parse_csv_line};
pub use grid::{held_out_patches, plan_runs, EvalGrid, EvalSurface, PlannedRun, PROCEDURAL_KINDS};
pub use machine::MachineInfo;
pub use outputs::{read_results_csv, write_outputs, EvalSummary, PLOT_FILE, REPORT_FILE, RESULTS_FILE, WHOLE_PLOT_FILE};
pub use row::{EvalRow, COLUMNS};
pub use runner::{run_eval, EvalEvent};
pub use suite::{fuse_folder, run_fuse_case, EvalSuite, FuseCase, ReplayCase};

use thiserror::Error;

/// Why an evaluation could not be planned, run or written.
#[derive(Debug, Error)]
pub enum EvalError {
    /// A grid point's configuration is invalid (nothing has been run).
    #[error("{run}: {source}")]
    Config {
        /// The grid point, e.g. "terraces / random / 4 picks".
        run: String,
        /// What is wrong.
        #[source]
        source: Box<crate::config::ConfigError>,
    },
    /// A real surface file could not be replayed.
    #[error("replaying {path}: {source}")]
    Replay {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        #[source]
        source: Box<crate::io::IoError>,
    },
    /// The grid is empty or malformed.
    #[error("{0}")]
    Grid(String),
    /// A run folder holds a session of another configuration.
    #[error("{dir} already holds a run of a different configuration; use a fresh --out folder")]
    Stale {
        /// The run folder.
        dir: std::path::PathBuf,
    },
    /// A file of the evaluation could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A figure could not be drawn.
    #[error("{path}: {source}")]
    Figure {
        /// The figure file.
        path: std::path::PathBuf,
        /// What went wrong.
        #[source]
        source: Box<crate::figures::FigureError>,
    },
}

impl EvalError {
    pub(crate) fn io(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        Self::Io { path: path.to_path_buf(), reason: reason.to_string() }
    }
}
