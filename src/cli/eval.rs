//! `afm-spark eval`: the closed loop over surfaces × patch budgets × selection strategies, each run in
//! its own folder, summarised in results.csv, report.md and PSNR-versus-acquisition-time plots.

use super::progress::human_s;
use afm_drivers::Directions;
use afm_spark::config::RunSpec;
use afm_spark::engine::ProgressEvent;
use afm_spark::eval::{
    plan_runs, run_eval, run_fuse_case, write_outputs, EvalEvent, EvalGrid, EvalRow, EvalSuite, EvalSummary, EvalSurface, MachineInfo,
    PROCEDURAL_KINDS,
};
use afm_spark::folder_lock::{FolderLock, EVAL_LOCK_FILE};
use afm_spark::select::SelectionStrategy;
use anyhow::{bail, Context};
use clap::Args;
use crossbeam::channel::Receiver;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

/// The base configuration without `--config`.
const DEFAULT_CONFIG: &str = "configs/dry-run.toml";
/// The base configuration of `--quick`.
const QUICK_CONFIG: &str = "configs/eval-quick.toml";
/// Budgets without `--budgets`.
const DEFAULT_BUDGETS: [usize; 5] = [2, 4, 8, 12, 20];
/// Budgets of `--quick`.
const QUICK_BUDGETS: [usize; 2] = [8, 16];
/// Surfaces of `--quick`.
const QUICK_SURFACES: [&str; 2] = ["terraces", "particles"];

/// Arguments of `afm-spark eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Base run configuration; each run overrides its surface, budget and strategy (default
    /// configs/dry-run.toml, or configs/eval-quick.toml with --quick).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// CI-sized evaluation: configs/eval-quick.toml (256 × 256 px frames over 5 µm, 32-px tiles, a
    /// small model trained 600 steps), surfaces terraces and particles, budgets 8 and 16 — unless
    /// given explicitly.
    #[arg(long)]
    pub quick: bool,
    /// Evaluation folder (default runs/eval-<unix time>/). Run folders already there with the same
    /// configuration are reused or resumed. One evaluation at a time: `eval.lock` names the process
    /// working there, and a second evaluation is refused while it runs.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Procedural surfaces, comma-separated (terraces, grains, particles, grating, step), or "none"
    /// (default: terraces, grains, particles, grating).
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    pub surfaces: Option<Vec<String>>,
    /// A real HR image (.ibw, .gwy, pyNSID .h5, .npy) replayed as a surface, with its channel; repeatable.
    #[arg(long = "file", value_name = "PATH[:CHANNEL]")]
    pub files: Vec<String>,
    /// Patch budgets, comma-separated (default 2,4,8,12,20).
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub budgets: Option<Vec<usize>>,
    /// Strategies, comma-separated: farthest_first, random, uniform, all (every tile, the full-scan
    /// reference, once per surface), active (a model picks after farthest-first seeds). Default:
    /// the first four.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub strategies: Option<Vec<String>>,
    /// Runs of the random strategy per surface and budget (seeds base + 0, 1, …).
    #[arg(long, default_value_t = 1)]
    pub random_seeds: usize,
    /// A benchmark suite file (e.g. configs/eval-real.toml): replayed real images and fuse cases on
    /// real overview/zoom pairs, each scored as SR against the fair baseline; replaces the grid options.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["quick", "surfaces", "files", "budgets", "strategies", "config"])]
    pub suite: Option<PathBuf>,
    /// Where the model runs: auto (CUDA when available), cpu or cuda. Overrides [run] device.
    #[arg(long, value_enum)]
    pub device: Option<afm_spark::device::DeviceChoice>,
    /// Which passes the simulated scans record — trace, retrace or both (the pipeline then uses
    /// their mean, whose feedback lags cancel to first order, as every instrument config does).
    /// Overrides [frame] directions of the base configuration; fuse cases read real files and are
    /// not affected.
    #[arg(long, value_parser = parse_directions, value_name = "PASSES")]
    pub directions: Option<Directions>,
}

fn parse_directions(name: &str) -> anyhow::Result<Directions> {
    let name = name.trim().to_ascii_lowercase();
    Directions::from_name(&name).ok_or_else(|| anyhow::anyhow!("unknown passes {name:?} (trace, retrace, both)"))
}

/// `base` with the command line's overrides of `[run] device` and `[frame] directions` (`config`
/// names its file in errors).
fn with_overrides(base: RunSpec, args: &EvalArgs, config: &std::path::Path) -> anyhow::Result<RunSpec> {
    if args.device.is_none() && args.directions.is_none() {
        return Ok(base);
    }
    let mut c = base.config.clone();
    if let Some(device) = args.device {
        c.run.device = device;
    }
    if let Some(directions) = args.directions {
        c.frame.directions = directions;
    }
    Ok(RunSpec::from_config(c, config)?)
}

fn parse_strategy(name: &str) -> anyhow::Result<SelectionStrategy> {
    Ok(match name.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "farthest_first" | "ff" => SelectionStrategy::FarthestFirst,
        "random" => SelectionStrategy::Random,
        "uniform" => SelectionStrategy::Uniform,
        "all" => SelectionStrategy::All,
        "active" => SelectionStrategy::Active,
        other => bail!("unknown strategy {other:?} (farthest_first, random, uniform, all, active)"),
    })
}

fn grid(args: &EvalArgs) -> anyhow::Result<EvalGrid> {
    let kinds: Vec<String> = match &args.surfaces {
        Some(list) if list.iter().any(|s| s.trim() == "none") => vec![],
        Some(list) => list.clone(),
        None if args.quick => QUICK_SURFACES.iter().map(|s| s.to_string()).collect(),
        None => PROCEDURAL_KINDS.iter().map(|s| s.to_string()).collect(),
    };
    let mut surfaces = kinds.iter().map(|k| EvalSurface::procedural(k)).collect::<Result<Vec<_>, _>>()?;
    surfaces.extend(args.files.iter().map(|f| EvalSurface::file(f)));
    let budgets = match &args.budgets {
        Some(b) => b.clone(),
        None if args.quick => QUICK_BUDGETS.to_vec(),
        None => DEFAULT_BUDGETS.to_vec(),
    };
    let strategies = match &args.strategies {
        Some(list) => list.iter().map(|s| parse_strategy(s)).collect::<anyhow::Result<Vec<_>>>()?,
        None => vec![SelectionStrategy::FarthestFirst, SelectionStrategy::Random, SelectionStrategy::Uniform, SelectionStrategy::All],
    };
    Ok(EvalGrid { surfaces, budgets, strategies, random_seeds: args.random_seeds })
}

/// The command line as typed, with the program called `afm-spark` and arguments quoted where needed.
fn command_line() -> String {
    let mut parts = vec!["afm-spark".to_string()];
    parts.extend(std::env::args().skip(1).map(|a| {
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
            format!("'{}'", a.replace('\'', r"'\''"))
        } else {
            a
        }
    }));
    parts.join(" ")
}

/// What the simulated scans record, in the report's words.
fn passes(directions: Directions) -> &'static str {
    match directions {
        Directions::Trace => "trace pass only",
        Directions::Retrace => "retrace pass only",
        Directions::Both => "mean of trace and retrace",
    }
}

fn frame_summary(spec: &RunSpec, files: bool) -> String {
    let c = &spec.config;
    let tile = match c.tile_px() {
        (w, h) if w == h => format!("{w} px"),
        (w, h) => format!("{w} × {h} px"),
    };
    format!(
        "HR {} × {} px over {:.2} µm, LR ÷{} at {}× the HR line rate, {} × {} tiles of {tile}, {}, model base {} trained ≤ {} steps{}{}",
        c.frame.hr_points,
        c.frame.hr_lines,
        c.frame.scan_size_m * 1e6,
        c.lr.decimation,
        c.lr.rate_factor,
        c.select.grid,
        c.select.grid,
        passes(c.frame.directions),
        c.train.base,
        c.train.max_steps,
        c.train.time_budget_s.map(|s| format!(" or {s} s")).unwrap_or_default(),
        if files { "; replayed files keep their own frame and pixel grid" } else { "" }
    )
}

/// Runs the evaluation.
pub fn run(args: EvalArgs, quiet: bool) -> anyhow::Result<()> {
    let suite = args.suite.as_ref().map(|p| EvalSuite::load(p)).transpose()?;
    let config = match &suite {
        Some(s) => s.base_config.clone(),
        None => args.config.clone().unwrap_or_else(|| PathBuf::from(if args.quick { QUICK_CONFIG } else { DEFAULT_CONFIG })),
    };
    let base = RunSpec::load(&config).with_context(|| format!("the base configuration {}", config.display()))?;
    let base = with_overrides(base, &args, &config)?;
    let grid = match &suite {
        Some(s) => s.grid(),
        None => grid(&args)?,
    };
    let runs = plan_runs(&base, &grid)?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("eval-{}", afm_drivers::frame::unix_now_s() as u64)));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    // One evaluation at a time in a folder: a second would write the same run sessions.
    let _lock = FolderLock::acquire(&out, EVAL_LOCK_FILE, "evaluation")?;
    let machine = MachineInfo::current();
    if !quiet {
        eprintln!("evaluating {} runs into {} on {}", runs.len(), out.display(), machine.describe());
    }
    let started = Instant::now();
    let (tx, rx) = crossbeam::channel::unbounded::<EvalEvent>();
    let display = spawn_display(rx, quiet);
    let result = with_run_logs_hidden(|| run_eval(&runs, &out, &tx));
    drop(tx);
    let _ = display.join();
    let mut rows = result?;
    for case in suite.iter().flat_map(|s| &s.fuse) {
        if !quiet {
            eprintln!("fuse {} + {} zoom(s), {}, {} folds …", case.overview.display(), case.zooms.len(), case.channel, case.score);
        }
        let device = base.config.run.device.resolve()?;
        let row = with_run_logs_hidden(|| run_fuse_case(case, &base, &out, device));
        if !quiet {
            eprintln!("{}", row_line(&row));
        }
        rows.push(row);
    }
    let summary = EvalSummary {
        command: command_line(),
        base_config: config,
        frame: frame_summary(&base, !args.files.is_empty() || suite.is_some()),
        machine,
        wall_s: started.elapsed().as_secs_f64(),
    };
    let files = write_outputs(&out, &rows, &summary)?;
    print_summary(&rows);
    println!("wall time {}; wrote:", human_s(summary.wall_s));
    for f in files {
        println!("  {}", f.display());
    }
    let failed = rows.iter().filter(|r| !r.is_ok()).count();
    if failed > 0 {
        bail!("{failed} of {} runs failed (see {})", rows.len(), out.join(afm_spark::eval::REPORT_FILE).display());
    }
    Ok(())
}

/// Runs `f` with the runs' per-scan info lines hidden (warnings and errors still show) unless `-v`
/// asked for debug output: dozens of runs would otherwise bury the progress bar.
fn with_run_logs_hidden<T>(f: impl FnOnce() -> T) -> T {
    use tracing::level_filters::LevelFilter;
    if LevelFilter::current() > LevelFilter::INFO {
        return f();
    }
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .with_target(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f)
}

fn row_line(r: &EvalRow) -> String {
    let db = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
    if !r.is_ok() {
        return format!("{:<12} {:<15} {:>3}  {}", r.surface, r.strategy, r.n_patches, r.status);
    }
    let frac = r.fraction.map(|f| format!("{:.1} %", 100.0 * f)).unwrap_or_default();
    if r.strategy == "all" {
        return format!(
            "{:<12} {:<15} {:>3}  {frac:>7}  whole: mosaic {} dB, fair baseline {} dB",
            r.surface,
            r.strategy,
            r.n_patches,
            db(r.psnr_sr_whole_db),
            db(r.psnr_fair_whole_db)
        );
    }
    format!(
        "{:<12} {:<15} {:>3}  {frac:>7}  unacquired: SR {} dB, fair baseline {} dB ({}), whole SR {} dB",
        r.surface,
        r.strategy,
        r.n_patches,
        db(r.psnr_sr_unacquired_db),
        db(r.psnr_fair_unacquired_db),
        r.gain_unacquired_db().map(|g| format!("{g:+.2} dB")).unwrap_or_else(|| "–".into()),
        db(r.psnr_sr_whole_db)
    )
}

fn print_summary(rows: &[EvalRow]) {
    println!("{:<12} {:<15} {:>3}  {:>7}  PSNR", "surface", "strategy", "n", "time");
    for r in rows {
        println!("{}", row_line(r));
    }
}

/// A bar over the grid of runs; the message follows the current run's stage.
fn spawn_display(events: Receiver<EvalEvent>, quiet: bool) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let bar = ProgressBar::with_draw_target(Some(1), target);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} runs ({elapsed}, eta {eta}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix("eval");
        let mut label = String::new();
        for event in events.iter() {
            match event {
                EvalEvent::RunStarted { index, total, label: l } => {
                    bar.set_length(total as u64);
                    bar.set_position(index as u64);
                    label = l;
                    bar.set_message(label.clone());
                }
                EvalEvent::Run(ProgressEvent::Stage(s)) => bar.set_message(format!("{label}: {s}")),
                EvalEvent::Run(ProgressEvent::ScanStarted { label: scan, .. }) => bar.set_message(format!("{label}: {scan}")),
                EvalEvent::Run(ProgressEvent::Training { step, max_steps, .. }) => {
                    bar.set_message(format!("{label}: training step {step}/{max_steps}"))
                }
                EvalEvent::Run(ProgressEvent::Reconstructing { done, total }) => {
                    bar.set_message(format!("{label}: reconstruction {done}/{total}"))
                }
                EvalEvent::Run(_) => {}
                EvalEvent::RunFinished { index, row } => {
                    bar.set_position(index as u64 + 1);
                    if !quiet {
                        bar.println(row_line(&row));
                    }
                }
            }
        }
        bar.finish_and_clear();
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        eval: EvalArgs,
    }

    fn args(extra: &[&str]) -> EvalArgs {
        Cli::try_parse_from(std::iter::once("eval").chain(extra.iter().copied())).expect("arguments parse").eval
    }

    #[test]
    fn directions_override_the_base_configuration_and_reach_the_report() {
        let config = std::path::Path::new("configs/replay.toml");
        let base = RunSpec::load(config).unwrap();
        assert_eq!(base.config.frame.directions, Directions::Trace);
        let both = with_overrides(base.clone(), &args(&["--directions", "both"]), config).unwrap();
        assert_eq!(both.config.frame.directions, Directions::Both);
        assert!(frame_summary(&both, true).contains("mean of trace and retrace"));
        assert!(frame_summary(&base, true).contains("trace pass only"));
        let unchanged = with_overrides(base.clone(), &args(&[]), config).unwrap();
        assert_eq!(unchanged.config.frame.directions, Directions::Trace);
        assert!(Cli::try_parse_from(["eval", "--directions", "sideways"]).is_err());
    }
}
