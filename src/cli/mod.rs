//! Subcommands of the `afm-spark` binary: argument definitions (clap derive) and dispatch. Each
//! subcommand lives in its own file with its `Args` struct and a `run` function.

mod bench;
mod eval;
mod fuse;
pub mod inspect;
mod progress;
mod reconstruct;
mod run;
mod select;
mod serve_sim;
mod simulate;
mod train;

use clap::{Parser, Subcommand};

/// afm-spark — fast AFM without losing nanoscale detail.
///
/// Scans the whole area once, fast and coarse; picks a few informative tiles; scans only those at high
/// resolution; trains a small flow-matching network on the pairs; reconstructs the whole
/// high-resolution image.
#[derive(Debug, Parser)]
#[command(name = "afm-spark", version, about, long_about)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the closed loop: one fast LR frame, farthest-first picks, HR patches (journaled as they
    /// arrive), then training and reconstruction. Writes session.h5, config, metrics.json and figures
    /// into the run folder.
    Run(run::RunArgs),
    /// Show what a data file holds: channels, image size, scan size, pixel pitch, scan rate and the
    /// acquisition parameters (Asylum .ibw, Gwyddion .gwy, pyNSID .h5 or NumPy .npy).
    ///
    /// Reads an Asylum Research Igor binary wave (.ibw, as saved by MFP-3D / Cypher software), a
    /// Gwyddion file (.gwy, what any instrument's data can be converted to), a pyNSID HDF5 file (.h5,
    /// e.g. DTMicroscope data) or a NumPy array (.npy) and prints its channels
    /// with units and value ranges, the image size in points × lines, the physical scan size and pixel
    /// pitch (size / (N − 1), Asylum's convention), the scan centre and angle, the line rate, and the
    /// acquisition parameters recorded with it (imaging mode, setpoint, feedback gains, drive). A .npy
    /// carries no geometry: its size is reported as unknown.
    Inspect(inspect::InspectArgs),
    /// Serve the simulator behind a faithful fake of ZeroMQ-XOP running afm-spark's Igor procedures
    /// (loopback by default), so a run with backend "mfp3d" (configs/mfp3d-sim.toml) can be rehearsed
    /// against it. Token required.
    ServeSim(serve_sim::ServeSimArgs),
    /// Scan the configured simulated surface at one or several scan-rate factors (e.g. 1×, 4×, 8×)
    /// and write the frames and the clean ground truth to a pyNSID HDF5 file (and optionally .npy).
    Simulate(simulate::SimulateArgs),
    /// Time the pieces that matter: one simulated 512² frame, indicators and selection, one training
    /// step of the dry-run and paper models, a 512² reconstruction (medians, with the core count), and
    /// the demo's whole model stage (training with validation, reconstruction) once.
    Bench(bench::BenchArgs),
    /// Pick tiles on an LR image on disk, as the closed loop would: the image levelled (`[level]` of
    /// --config; plane+lines for heights by default), the five indicators per tile on its own pixels,
    /// the picks, a table and a PNG of the picks.
    ///
    /// Works on any supported file (.ibw, .gwy, .h5, .npy). Prints one row per tile — tile index, tile
    /// row/column (row 0 at the bottom), mean, standard deviation, mean gradient magnitude, mean
    /// |Laplacian| (per LR pixel), high-frequency texture ratio, eligibility and pick order (1 = scanned
    /// first) — and draws the picks outlined over the image.
    Select(select::SelectArgs),
    /// Train TinyUNetFlow offline on an HR/LR file pair (like the original run.py): picks tiles on the
    /// LR, trains one model per patch count of --n-list on the HR pixels under the first n picks, and
    /// reconstructs and scores each against the whole HR image.
    ///
    /// Output folder: options.json, selection.csv, picks.png, summary.csv and one n<N>/ per model
    /// holding the checkpoint (model.safetensors, model.json, train_config.json), loss.csv, loss.png,
    /// acquired.json, and the reconstruction (sr.npy, bicubic.npy, nearest.npy, acquired_mask.npy,
    /// panels.png, metrics.json). For .npy pairs (no geometry) the LR is taken to be HR[::f, ::f]
    /// with f = HR size / LR size; --lr-geometry changes that.
    Train(train::TrainArgs),
    /// Reconstruct the HR image from an LR file with a trained checkpoint (like the original
    /// Inference.py) and score it against the HR file.
    ///
    /// Writes sr.npy, sr_unpasted.npy, bicubic.npy, nearest.npy, acquired_mask.npy, panels.png
    /// (LR | SR | HR | |SR − HR|) and metrics.json (PSNR/SSIM of SR, bicubic and nearest on the whole
    /// image and on the unacquired region) into DIR/inference/.
    Reconstruct(reconstruct::ReconstructArgs),
    /// Evaluate quality versus acquisition time: the closed loop over surfaces × patch budgets ×
    /// selection strategies, each run in its own folder; writes results.csv, report.md and plots of
    /// PSNR against the acquisition-time fraction of a full HR frame.
    ///
    /// Surfaces: the simulator's procedural ones and real HR images (--file PATH[:CHANNEL], replayed as
    /// the simulated surface on their own frame). Strategies: farthest_first (the method), random,
    /// uniform, and all (every tile scanned: the full-scan reference, once per surface, no model).
    /// The number of validation patches held out is min(base n_val, picks / 4). --quick runs a small
    /// grid for CI (configs/eval-quick.toml).
    Eval(eval::EvalArgs),
    /// Fuse an overview with zooms scanned inside it: register each zoom in the overview, train on the
    /// zoom tiles, reconstruct the overview's whole area at the zooms' pitch.
    ///
    /// Writes sr.npy (the reconstruction: SR, or the fair baseline when SR does not beat it on held-out
    /// zoom tiles), fair_baseline.npy, registration.json, panels.png and metrics.json. --score K holds
    /// out each of K folds of the zoom tiles in turn, trains on the rest and writes
    /// folds/<k>/{sr,bicubic,truth,mask}.npy with the PSNR/SSIM of SR and of the fair baseline on the
    /// held-out pixels.
    Fuse(fuse::FuseArgs),
}

/// Runs one subcommand; `quiet` hides progress bars.
pub fn dispatch(command: Command, quiet: bool) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run::run(args, quiet),
        Command::ServeSim(args) => serve_sim::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Select(args) => select::run(args),
        Command::Train(args) => train::run(args, quiet),
        Command::Reconstruct(args) => reconstruct::run(args),
        Command::Eval(args) => eval::run(args, quiet),
        Command::Fuse(args) => fuse::run(args, quiet),
    }
}

/// Whether log lines on stderr may carry ANSI colour: only when stderr is a terminal and `NO_COLOR`
/// is unset or empty (<https://no-color.org>). Logs written to a file or a pipe stay plain text.
pub fn log_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Sets up `tracing` output on stderr: warnings with `-q`, info by default, debug/trace with `-v`/`-vv`.
/// `RUST_LOG` overrides. Colour only on a terminal, never with `NO_COLOR` set (see [`log_colour`]).
pub fn init_logging(verbose: u8, quiet: bool) {
    use std::io::IsTerminal as _;
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = log_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).with_target(false).init();
}

/// An error and its causes on one line: "outer: inner: root cause".
pub fn one_line(e: &anyhow::Error) -> String {
    joined_causes(e.chain().map(|c| c.to_string()))
}

/// The messages of an error chain joined by ": ", leaving out a cause that the message before it
/// already ends with (errors that print their source as well as returning it).
fn joined_causes(messages: impl Iterator<Item = String>) -> String {
    let mut line = String::new();
    for m in messages {
        if line.is_empty() {
            line = m;
        } else if !line.ends_with(&m) {
            line = format!("{line}: {m}");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::{joined_causes, log_colour};
    use std::ffi::OsStr;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let chain = |m: &[&str]| joined_causes(m.iter().map(|s| s.to_string()));
        assert_eq!(chain(&["run a: bad crop", "bad crop"]), "run a: bad crop");
        assert_eq!(chain(&["reading x", "no such file"]), "reading x: no such file");
        assert_eq!(chain(&["a: b: c", "b: c", "c"]), "a: b: c");
        assert_eq!(chain(&["outer", "middle: inner", "inner"]), "outer: middle: inner");
        assert_eq!(chain(&[]), "");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(log_colour(true, None));
        assert!(log_colour(true, Some(OsStr::new(""))));
        assert!(!log_colour(true, Some(OsStr::new("1"))));
        assert!(!log_colour(false, None));
    }
}
