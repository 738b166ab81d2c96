//! Running the grid: each grid point is an ordinary closed-loop run in its own folder of the
//! evaluation folder. A folder that already holds a finished run of the same configuration is reused;
//! an interrupted one is resumed from its session; one of another configuration stops the evaluation
//! before anything runs. A run that fails is recorded as a failed row and the grid goes on.

use super::grid::PlannedRun;
use super::row::EvalRow;
use super::EvalError;
use crate::engine::ProgressEvent;
use crate::folder_lock::{FolderLock, RUN_LOCK_FILE};
use crate::io::session::Session;
use crate::pipeline::{run_closed_loop, RunOptions};
use crate::report::MetricsReport;
use crate::select::SelectionStrategy;
use crossbeam::channel::Sender;
use std::path::Path;

/// Progress of an evaluation.
#[derive(Debug, Clone)]
pub enum EvalEvent {
    /// Grid point `index` (0-based) of `total` begins.
    RunStarted {
        /// Position in the grid.
        index: usize,
        /// Grid points in all.
        total: usize,
        /// "terraces / random / 4 picks".
        label: String,
    },
    /// Progress inside the current run.
    Run(ProgressEvent),
    /// Grid point `index` ended (its row says whether it succeeded).
    RunFinished {
        /// Position in the grid.
        index: usize,
        /// The result.
        row: Box<EvalRow>,
    },
}

/// Runs every grid point into `out_dir/<run.folder>` and returns one row per grid point, in order.
/// Fails only when a folder belongs to another configuration (checked before anything runs) or the
/// evaluation folder cannot be created; a failed run becomes a row with status "failed: …". The
/// caller holds the folder's [`crate::folder_lock::FolderLock`] for the whole evaluation; each run holds
/// its own folder's, as `afm-spark run` does.
pub fn run_eval(runs: &[PlannedRun], out_dir: &Path, events: &Sender<EvalEvent>) -> Result<Vec<EvalRow>, EvalError> {
    for run in runs {
        check_folder(run, &out_dir.join(&run.folder))?;
    }
    let mut rows = Vec::with_capacity(runs.len());
    for (index, run) in runs.iter().enumerate() {
        let _ = events.send(EvalEvent::RunStarted { index, total: runs.len(), label: run.label() });
        let row = run_one(run, &out_dir.join(&run.folder), events).unwrap_or_else(|reason| {
            tracing::warn!("{}: {reason}", run.label());
            EvalRow::failed(run, &reason)
        });
        let _ = events.send(EvalEvent::RunFinished { index, row: Box::new(row.clone()) });
        rows.push(row);
    }
    Ok(rows)
}

/// A folder may be new, or hold a session of exactly this configuration.
fn check_folder(run: &PlannedRun, dir: &Path) -> Result<(), EvalError> {
    let session_path = dir.join("session.h5");
    if !session_path.exists() {
        return Ok(());
    }
    let stored = Session::open(&session_path).and_then(|s| s.config_hash()).map_err(|e| EvalError::io(&session_path, e))?;
    if stored != run.spec.hash() {
        return Err(EvalError::Stale { dir: dir.to_path_buf() });
    }
    Ok(())
}

/// The row of an earlier, finished run in `dir`, if there is one.
fn finished_row(run: &PlannedRun, dir: &Path) -> Option<EvalRow> {
    let report = MetricsReport::read(&dir.join("metrics.json")).ok()?;
    (report.stage == "reconstructed").then(|| EvalRow::from_report(run, &report, "reused"))
}

fn run_one(run: &PlannedRun, dir: &Path, events: &Sender<EvalEvent>) -> Result<EvalRow, String> {
    if let Some(row) = finished_row(run, dir) {
        return Ok(row);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let _lock = FolderLock::acquire(dir, RUN_LOCK_FILE, "run").map_err(|e| e.to_string())?;
    let toml = run.spec.to_toml().map_err(|e| e.to_string())?;
    let session_path = dir.join("session.h5");
    let session = if session_path.exists() {
        Session::open(&session_path).map_err(|e| e.to_string())?
    } else {
        Session::create(&session_path, &toml, &run.spec.hash()).map_err(|e| e.to_string())?
    };
    std::fs::write(dir.join("config.toml"), &toml).map_err(|e| format!("writing {}: {e}", dir.join("config.toml").display()))?;

    let (tx, rx) = crossbeam::channel::unbounded::<ProgressEvent>();
    let forward = events.clone();
    let forwarder = std::thread::spawn(move || {
        for e in rx.iter() {
            let _ = forward.send(EvalEvent::Run(e));
        }
    });
    // The full-scan reference (every tile scanned) trains no model: it delivers the patch mosaic.
    let options = RunOptions { acquire_only: false, no_model: run.strategy == SelectionStrategy::All, sequential: false };
    let result = run_closed_loop(&run.spec, &session, dir, options, &tx);
    drop(tx);
    let _ = forwarder.join();
    let report = result.map_err(|e| error_chain(&e))?;
    Ok(EvalRow::from_report(run, &report, "ok"))
}

/// "outer: inner: root cause".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
