//! What an evaluation leaves beside its run folders: `results.csv` (one row per run), `report.md`
//! (the command, the machine, the tables, the figures) and the PSNR-versus-acquisition-time plots.

use super::csv::{csv_line, parse_csv_line};
use super::machine::MachineInfo;
use super::row::{EvalRow, COLUMNS};
use super::EvalError;
use crate::figures::{line_plot_png, LinePlot, Series};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One row per run.
pub const RESULTS_FILE: &str = "results.csv";
/// The Markdown report.
pub const REPORT_FILE: &str = "report.md";
/// PSNR on the unacquired region vs acquisition-time fraction, mean over surfaces, one series per strategy.
pub const PLOT_FILE: &str = "psnr_vs_time.png";
/// Whole-image PSNR vs acquisition-time fraction, mean over surfaces, with the full-scan reference.
pub const WHOLE_PLOT_FILE: &str = "psnr_whole_vs_time.png";

/// How an evaluation was run, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSummary {
    /// The command line that produced it.
    pub command: String,
    /// The base configuration file.
    pub base_config: PathBuf,
    /// One line on the base frame, e.g. "HR 512 × 512 px over 10 µm, LR ÷4 at 4× line rate, 8 × 8 tiles".
    pub frame: String,
    /// The machine and start date.
    pub machine: MachineInfo,
    /// Wall time of the whole evaluation, seconds.
    pub wall_s: f64,
}

/// Writes `results.csv`, `report.md` and the plots into `dir`; returns the files written.
pub fn write_outputs(dir: &Path, rows: &[EvalRow], summary: &EvalSummary) -> Result<Vec<PathBuf>, EvalError> {
    let mut written = vec![write_csv(dir, rows)?];
    let mut figures = Vec::new();
    // only surfaces with acquisition times can be plotted against it (a fuse case has none, and a
    // surface missing from the mean would empty every curve of the mean plot)
    let surfaces: Vec<String> = unique(rows.iter().filter(|r| r.fraction.is_some()).map(|r| r.surface.clone()));
    if let Some(p) = plot(dir, PLOT_FILE, rows, &surfaces, Metric::Unacquired)? {
        figures.push(p);
    }
    if let Some(p) = plot(dir, WHOLE_PLOT_FILE, rows, &surfaces, Metric::Whole)? {
        figures.push(p);
    }
    if surfaces.len() > 1 {
        for s in &surfaces {
            let name = format!("psnr_vs_time_{s}.png");
            if let Some(p) = plot(dir, &name, rows, std::slice::from_ref(s), Metric::Unacquired)? {
                figures.push(p);
            }
        }
    }
    let report = dir.join(REPORT_FILE);
    std::fs::write(&report, report_markdown(rows, summary, &figures)).map_err(|e| EvalError::io(&report, e))?;
    written.push(report);
    written.extend(figures.into_iter().map(|f| dir.join(f)));
    Ok(written)
}

fn write_csv(dir: &Path, rows: &[EvalRow]) -> Result<PathBuf, EvalError> {
    let path = dir.join(RESULTS_FILE);
    let mut text = csv_line(&COLUMNS) + "\n";
    for r in rows {
        text += &csv_line(&r.csv_fields());
        text.push('\n');
    }
    std::fs::write(&path, text).map_err(|e| EvalError::io(&path, e))?;
    Ok(path)
}

/// Reads a `results.csv` back into rows.
pub fn read_results_csv(path: &Path) -> Result<Vec<EvalRow>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().and_then(parse_csv_line).ok_or_else(|| EvalError::io(path, "no header"))?;
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields = parse_csv_line(line).ok_or_else(|| EvalError::io(path, format!("row {}: unclosed quote", i + 1)))?;
            EvalRow::from_csv_fields(&header, &fields).map_err(|e| EvalError::io(path, format!("row {}: {e}", i + 1)))
        })
        .collect()
}

fn unique<T: Ord + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for i in items {
        if seen.insert(i.clone()) {
            out.push(i);
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Unacquired,
    Whole,
}

fn pretty(strategy: &str) -> &str {
    match strategy {
        "farthest_first" => "farthest-first",
        "all" => "all tiles",
        s => s,
    }
}

/// Mean of `value` over `surfaces` at each budget of `strategy`, with the mean fraction; a budget is
/// kept only where every surface has a value (so the mean is over the same surfaces everywhere).
fn mean_curve(rows: &[EvalRow], surfaces: &[String], strategy: &str, value: impl Fn(&EvalRow) -> Option<f64>) -> Vec<(f64, f64)> {
    let budgets = unique(rows.iter().filter(|r| r.strategy == strategy).map(|r| r.n_select));
    let mut pts: Vec<(f64, f64)> = budgets
        .into_iter()
        .filter_map(|b| {
            let vals: Vec<(f64, f64)> = surfaces
                .iter()
                .filter_map(|s| {
                    let r = rows.iter().find(|r| r.is_ok() && &r.surface == s && r.strategy == strategy && r.n_select == b)?;
                    Some((r.fraction?, value(r)?))
                })
                .collect();
            (vals.len() == surfaces.len() && !vals.is_empty()).then(|| {
                let n = vals.len() as f64;
                (vals.iter().map(|v| v.0).sum::<f64>() / n, vals.iter().map(|v| v.1).sum::<f64>() / n)
            })
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

fn plot(dir: &Path, name: &str, rows: &[EvalRow], surfaces: &[String], metric: Metric) -> Result<Option<String>, EvalError> {
    let strategies: Vec<String> = unique(rows.iter().filter(|r| r.strategy != "all").map(|r| r.strategy.clone()));
    let mut series = Vec::new();
    for s in &strategies {
        let sr = mean_curve(rows, surfaces, s, |r| match metric {
            Metric::Unacquired => r.psnr_sr_unacquired_db,
            Metric::Whole => r.psnr_sr_whole_db,
        });
        if !sr.is_empty() {
            series.push(Series { name: format!("SR, {}", pretty(s)), points: sr });
        }
    }
    match metric {
        Metric::Unacquired => {
            for s in &strategies {
                let bi = mean_curve(rows, surfaces, s, |r| r.psnr_fair_unacquired_db);
                if !bi.is_empty() {
                    series.push(Series { name: format!("fair baseline, {} picks' complement", pretty(s)), points: bi });
                }
            }
        }
        Metric::Whole => {
            if let Some(s) = strategies.first() {
                let bi = mean_curve(rows, surfaces, s, |r| r.psnr_fair_whole_db);
                if !bi.is_empty() {
                    series.push(Series { name: "fair baseline".into(), points: bi });
                }
            }
            let all = mean_curve(rows, surfaces, "all", |r| r.psnr_sr_whole_db);
            if !all.is_empty() {
                series.push(Series { name: "every tile scanned (full-scan reference)".into(), points: all });
            }
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    let scope = if surfaces.len() == 1 { surfaces[0].clone() } else { format!("mean over {} surfaces", surfaces.len()) };
    let (title, y) = match metric {
        Metric::Unacquired => (format!("PSNR on the unacquired region vs acquisition time ({scope})"), "PSNR, unacquired region (dB)"),
        Metric::Whole => (format!("Whole-image PSNR vs acquisition time ({scope})"), "PSNR, whole image (dB)"),
    };
    let plot = LinePlot::new(&title, "acquisition time / one full HR frame", y, series);
    let path = dir.join(name);
    line_plot_png(&path, &plot).map_err(|e| EvalError::Figure { path: path.clone(), source: Box::new(e) })?;
    Ok(Some(name.to_string()))
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "–".into())
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", 100.0 * v)).unwrap_or_else(|| "–".into())
}

fn human_s(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// Per case (surface × strategy × budget; the seeds of the random strategy together), what was
/// delivered and the gain delivered − fair baseline on the unacquired region (PSNR, SSIM): mean, and
/// for several seeds the spread; then the mean and the minimum over the cases.
fn case_table(rows: &[EvalRow]) -> String {
    let mut md = String::new();
    let cases = unique(rows.iter().filter(|r| r.strategy != "all").map(|r| (r.surface.clone(), r.strategy.clone(), r.n_select)));
    if cases.is_empty() {
        return md;
    }
    let _ = writeln!(md, "\n## SR against the fair baseline, per case\n");
    let _ = writeln!(md, "| case | strategy | picks | runs | delivered | PSNR gain, unacquired (dB) | SSIM gain, unacquired |");
    let _ = writeln!(md, "|---|---|--:|--:|---|--:|--:|");
    let (mut means, mut ssims) = (Vec::new(), Vec::new());
    for (surface, strategy, n) in &cases {
        let runs: Vec<&EvalRow> =
            rows.iter().filter(|r| r.is_ok() && &r.surface == surface && &r.strategy == strategy && r.n_select == *n).collect();
        let gains: Vec<f64> = runs.iter().filter_map(|r| r.gain_unacquired_db()).collect();
        let ssim: Vec<f64> = runs.iter().filter_map(|r| r.ssim_gain_unacquired()).collect();
        if gains.is_empty() {
            continue;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let spread = |v: &[f64], d: usize| {
            let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &g| (lo.min(g), hi.max(g)));
            if v.len() > 1 {
                format!(" ({lo:+.d$} … {hi:+.d$})")
            } else {
                String::new()
            }
        };
        let outputs = unique(runs.iter().map(|r| r.output.clone())).join(", ");
        let picks = if *n == 0 { "–".to_string() } else { n.to_string() };
        let _ = writeln!(
            md,
            "| {surface} | {} | {picks} | {} | {outputs} | {:+.2}{} | {:+.4}{} |",
            pretty(strategy),
            runs.len(),
            mean(&gains),
            spread(&gains, 2),
            mean(&ssim),
            spread(&ssim, 4)
        );
        means.push(mean(&gains));
        ssims.push(mean(&ssim));
    }
    let min = means.iter().copied().fold(f64::INFINITY, f64::min);
    let _ = writeln!(
        md,
        "\nOver the {} cases: PSNR gain mean **{:+.2} dB**, minimum **{min:+.2} dB**; SSIM gain mean {:+.4}, minimum {:+.4}.",
        means.len(),
        means.iter().sum::<f64>() / means.len() as f64,
        ssims.iter().sum::<f64>() / ssims.len().max(1) as f64,
        ssims.iter().copied().fold(f64::INFINITY, f64::min)
    );
    md
}

/// The Markdown report.
fn report_markdown(rows: &[EvalRow], summary: &EvalSummary, figures: &[String]) -> String {
    let mut md = String::new();
    let m = &summary.machine;
    let devices = unique(rows.iter().filter(|r| r.device != "none").map(|r| r.device.clone())).join(", ");
    let _ = writeln!(md, "# afm-spark evaluation: image quality versus acquisition time\n");
    let _ = writeln!(md, "- Command: `{}`", summary.command);
    let reused = rows.iter().filter(|r| r.status == "reused").count();
    let runs_s: f64 = rows.iter().filter_map(|r| r.wall_s).sum();
    let _ = writeln!(
        md,
        "- Started {} UTC; wall time {} for {} runs{} (the runs' own wall times add up to {})",
        m.started_utc,
        human_s(summary.wall_s),
        rows.len(),
        if reused > 0 { format!(", {reused} of them reused from an earlier invocation into the same folder") } else { String::new() },
        human_s(runs_s)
    );
    let _ = writeln!(md, "- Machine: {}; model on {}", m.describe(), if devices.is_empty() { "–".into() } else { devices });
    let _ = writeln!(md, "- Base configuration: `{}` ({})", summary.base_config.display(), summary.frame);
    let surfaces = unique(rows.iter().map(|r| r.surface.clone()));
    let strategies = unique(rows.iter().map(|r| pretty(&r.strategy).to_string()));
    let budgets = unique(rows.iter().filter(|r| r.strategy != "all").map(|r| r.n_select));
    let _ = writeln!(
        md,
        "- Grid: surfaces {}; budgets {} picks; strategies {}",
        surfaces.join(", "),
        budgets.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", "),
        strategies.join(", ")
    );
    let _ = writeln!(
        md,
        "- Validation patches held out (early stopping): min(base `n_val`, ⌊picks / 4⌋) — the `n_val` column; with \
         no patch held out, training runs to its step or time budget."
    );
    let _ = writeln!(
        md,
        "- Every row is one run folder (config.toml, session.h5, metrics.json, arrays, panels.png); `results.csv` \
         has every number to more digits. PSNR uses the data range of the whole ground truth; \"unacquired\" is the \
         region no measured HR patch covers, which differs between strategies.\n"
    );

    let sampled: Vec<&EvalRow> = rows.iter().filter(|r| r.strategy != "all").collect();
    let gains: Vec<f64> = sampled.iter().filter(|r| r.is_ok()).filter_map(|r| r.gain_unacquired_db()).collect();
    let _ = writeln!(md, "## Summary\n");
    if !gains.is_empty() {
        let wins = gains.iter().filter(|&&g| g > 0.0).count();
        let mean = gains.iter().sum::<f64>() / gains.len() as f64;
        let (lo, hi) = gains.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &g| (lo.min(g), hi.max(g)));
        let _ = writeln!(
            md,
            "- SR beat the fair baseline on the unacquired region in **{wins} of {}** runs; gain delivered − fair baseline: mean {mean:+.2} dB, \
             smallest {lo:+.2} dB, largest {hi:+.2} dB.",
            gains.len()
        );
    }
    for (a, b) in [("farthest_first", "random"), ("farthest_first", "uniform"), ("active", "farthest_first")] {
        if let Some(line) = strategy_comparison(rows, a, b) {
            let _ = writeln!(md, "- {line}");
        }
    }
    let failed = rows.iter().filter(|r| !r.is_ok()).count();
    if failed > 0 {
        let _ = writeln!(md, "- **{failed} run(s) failed** (see the last table).");
    }
    md.push_str(&case_table(rows));

    let _ = writeln!(md, "\n## Sparse acquisitions\n");
    let _ = writeln!(
        md,
        "| surface | strategy | picks | time | PSNR unacq. SR (dB) | fair | nearest | SR − fair | SSIM unacq. SR | fair | PSNR whole SR | fair | run folder |"
    );
    let _ = writeln!(md, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    for r in sampled.iter().filter(|r| r.is_ok()) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | [{}]({}/) |",
            r.surface,
            pretty(&r.strategy),
            r.n_patches,
            pct(r.fraction),
            f(r.psnr_sr_unacquired_db, 2),
            f(r.psnr_fair_unacquired_db, 2),
            f(r.psnr_nearest_unacquired_db, 2),
            r.gain_unacquired_db().map(|g| format!("{g:+.2}")).unwrap_or_else(|| "–".into()),
            f(r.ssim_sr_unacquired, 4),
            f(r.ssim_fair_unacquired, 4),
            f(r.psnr_sr_whole_db, 2),
            f(r.psnr_fair_whole_db, 2),
            r.run_dir,
            r.run_dir
        );
    }
    if let Some(table) = picks_to_match(rows, "active", "farthest_first") {
        md.push_str(&table);
    }
    let reference: Vec<&EvalRow> = rows.iter().filter(|r| r.strategy == "all" && r.is_ok()).collect();
    if !reference.is_empty() {
        let _ = writeln!(md, "\n## Full-scan reference (every tile scanned at HR in patches, no model)\n");
        let _ =
            writeln!(md, "| surface | patches | time | PSNR whole, mosaic (dB) | bicubic | SSIM whole, mosaic | bicubic | run folder |");
        let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|---|");
        for r in reference {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | [{}]({}/) |",
                r.surface,
                r.n_patches,
                pct(r.fraction),
                f(r.psnr_sr_whole_db, 2),
                f(r.psnr_fair_whole_db, 2),
                f(r.ssim_sr_whole, 4),
                f(r.ssim_fair_whole, 4),
                r.run_dir,
                r.run_dir
            );
        }
        let _ = writeln!(
            md,
            "\nThe mosaic differs from the ground truth by the scan noise, drift and feedback of separate patch scans; its \
             time includes a move and a settle per patch."
        );
    }
    if !figures.is_empty() {
        let _ = writeln!(md, "\n## PSNR versus acquisition time\n");
        let _ = writeln!(
            md,
            "x: the plan's instrument time (LR frame + patches + moves and settling) ÷ one full HR frame. With several \
             surfaces the curves are means of dB over the surfaces (a budget is drawn only where every surface has a \
             result); the per-surface plots follow. The bicubic curves on the unacquired region differ by strategy \
             because each strategy leaves a different region unacquired.\n"
        );
        for fig in figures {
            let _ = writeln!(md, "![{fig}]({fig})\n");
        }
    }
    if failed > 0 {
        let _ = writeln!(md, "## Failed runs\n\n| run folder | status |\n|---|---|");
        for r in rows.iter().filter(|r| !r.is_ok()) {
            let _ = writeln!(md, "| {} | {} |", r.run_dir, r.status.replace('|', "/"));
        }
    }
    md
}

/// Per surface, the fewest picks with which strategy `a` reaches the whole-image PSNR (delivered image,
/// patches pasted: comparable across strategies) that `b` reaches with its largest budget — as a
/// markdown section, or `None` when no surface has both.
fn picks_to_match(rows: &[EvalRow], a: &str, b: &str) -> Option<String> {
    let ok = |r: &&EvalRow| r.is_ok() && r.psnr_sr_whole_db.is_some();
    let mut lines = Vec::new();
    for surface in unique(rows.iter().map(|r| r.surface.clone())) {
        let Some(target) = rows.iter().filter(ok).filter(|r| r.surface == surface && r.strategy == b).max_by_key(|r| r.n_select) else {
            continue;
        };
        let mut tried: Vec<&EvalRow> = rows.iter().filter(ok).filter(|r| r.surface == surface && r.strategy == a).collect();
        if tried.is_empty() {
            continue;
        }
        tried.sort_by_key(|r| r.n_select);
        let goal = target.psnr_sr_whole_db.unwrap_or(f64::INFINITY);
        let reached = tried.iter().find(|r| r.psnr_sr_whole_db.unwrap_or(f64::NEG_INFINITY) >= goal);
        let largest = tried.last().map_or(0, |r| r.n_select);
        let curve = tried.iter().map(|r| format!("{}: {}", r.n_select, f(r.psnr_sr_whole_db, 2))).collect::<Vec<_>>().join(", ");
        lines.push(format!(
            "| {surface} | {} | {goal:.2} | {} | {curve} |",
            target.n_select,
            reached.map_or_else(|| format!("> {largest}"), |r| r.n_select.to_string())
        ));
    }
    if lines.is_empty() {
        return None;
    }
    let mut md = format!(
        "\n## Picks {} needs to reach the PSNR of {} at its largest budget\n\nWhole-image PSNR of the delivered image (measured patches pasted), \
         comparable across strategies; only the budgets run are tried.\n\n| surface | {} picks | its PSNR (dB) | {} picks needed | {} PSNR by picks (dB) |\n|---|--:|--:|--:|---|\n",
        pretty(a),
        pretty(b),
        pretty(b),
        pretty(a),
        pretty(a)
    );
    for l in lines {
        md.push_str(&l);
        md.push('\n');
    }
    Some(md)
}

/// "farthest-first vs random at equal budget: whole-image SR PSNR higher in k of n (mean Δ …)".
fn strategy_comparison(rows: &[EvalRow], a: &str, b: &str) -> Option<String> {
    let pairs: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.strategy == a && r.is_ok())
        .filter_map(|ra| {
            let rb = rows.iter().find(|r| r.strategy == b && r.is_ok() && r.surface == ra.surface && r.n_select == ra.n_select)?;
            Some((ra.psnr_sr_whole_db? - rb.psnr_sr_whole_db?, ra.gain_unacquired_db()? - rb.gain_unacquired_db()?))
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len();
    let wins = pairs.iter().filter(|p| p.0 > 0.0).count();
    let mean_whole = pairs.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let mean_gain = pairs.iter().map(|p| p.1).sum::<f64>() / n as f64;
    Some(format!(
        "{} vs {} at equal budget (same surface): whole-image SR PSNR higher in {wins} of {n} pairs (mean Δ {mean_whole:+.2} dB); \
         mean difference of the SR − fair gain on each one's unacquired region {mean_gain:+.2} dB.",
        pretty(a),
        pretty(b)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(surface: &str, strategy: &str, n: usize, sr: f64, bi: f64) -> EvalRow {
        let header: Vec<String> = COLUMNS.iter().map(|s| s.to_string()).collect();
        let mut fields = vec![String::new(); COLUMNS.len()];
        let set = |fields: &mut Vec<String>, col: &str, v: String| {
            let i = COLUMNS.iter().position(|c| *c == col).unwrap();
            fields[i] = v;
        };
        set(&mut fields, "surface", surface.into());
        set(&mut fields, "strategy", strategy.into());
        set(&mut fields, "n_select", n.to_string());
        set(&mut fields, "n_patches", n.to_string());
        set(&mut fields, "n_val", "1".into());
        set(&mut fields, "fraction", format!("{}", 0.06 + n as f64 / 64.0));
        set(&mut fields, "psnr_sr_unacquired_db", sr.to_string());
        set(&mut fields, "psnr_fair_unacquired_db", bi.to_string());
        set(&mut fields, "psnr_sr_whole_db", (sr + 1.0).to_string());
        set(&mut fields, "psnr_fair_whole_db", bi.to_string());
        set(&mut fields, "device", "cpu".into());
        set(&mut fields, "run_dir", format!("{surface}/{strategy}-{n:02}"));
        set(&mut fields, "status", "ok".into());
        EvalRow::from_csv_fields(&header, &fields).unwrap()
    }

    #[test]
    fn csv_round_trips_and_the_report_has_tables_and_plots() {
        let dir = std::env::temp_dir().join(format!("afm-spark-eval-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = vec![
            row("terraces", "farthest_first", 4, 30.0, 28.0),
            row("terraces", "random", 4, 29.0, 28.5),
            row("grains", "farthest_first", 4, 25.0, 24.0),
            row("grains", "random", 4, 24.0, 24.2),
            // a fuse case: scored, but without an acquisition time to plot against
            EvalRow {
                status: "ok".into(),
                psnr_sr_unacquired_db: Some(30.0),
                psnr_fair_unacquired_db: Some(29.0),
                ..EvalRow::named("fuse-overview-zoom-Deflection", "fuse-4fold", "fuse-overview-zoom-Deflection")
            },
        ];
        let summary = EvalSummary {
            command: "afm-spark eval --quick".into(),
            base_config: "configs/eval-quick.toml".into(),
            frame: "test".into(),
            machine: MachineInfo::current(),
            wall_s: 75.0,
        };
        let files = write_outputs(&dir, &rows, &summary).unwrap();
        assert!(files.iter().any(|f| f.ends_with(PLOT_FILE)), "the mean plot despite the fuse case: {files:?}");
        assert!(files.iter().any(|f| f.ends_with("psnr_vs_time_grains.png")));
        assert!(!files.iter().any(|f| f.to_string_lossy().contains("psnr_vs_time_fuse")));
        let back = read_results_csv(&dir.join(RESULTS_FILE)).unwrap();
        assert_eq!(back, rows);
        let md = std::fs::read_to_string(dir.join(REPORT_FILE)).unwrap();
        assert!(md.contains("in **4 of 5** runs"), "{md}");
        assert!(md.contains("whole-image SR PSNR higher in 2 of 2 pairs"), "{md}");
        assert!(md.contains("1 min 15 s"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn picks_to_match_finds_the_fewest_active_picks_reaching_farthest_first_at_its_largest_budget() {
        // whole PSNR = the second argument + 1 (see `row`)
        let rows = vec![
            row("terraces", "farthest_first", 8, 29.0, 0.0),
            row("terraces", "farthest_first", 20, 31.0, 0.0),
            row("terraces", "active", 8, 30.0, 0.0),
            row("terraces", "active", 12, 31.0, 0.0),
            row("terraces", "active", 20, 33.0, 0.0),
            row("grains", "farthest_first", 20, 31.0, 0.0),
            row("grains", "active", 8, 20.0, 0.0),
            row("grains", "active", 20, 30.5, 0.0),
            row("step", "farthest_first", 20, 31.0, 0.0), // no active run: no line
        ];
        let md = picks_to_match(&rows, "active", "farthest_first").unwrap();
        assert!(md.contains("| terraces | 20 | 32.00 | 12 | 8: 31.00, 12: 32.00, 20: 34.00 |"), "{md}");
        assert!(md.contains("| grains | 20 | 32.00 | > 20 |"), "{md}");
        assert!(!md.contains("| step |"), "{md}");
        assert!(picks_to_match(&rows[..2], "active", "farthest_first").is_none());
    }

    #[test]
    fn means_are_drawn_only_where_every_surface_has_a_value() {
        let mut rows = vec![row("a", "random", 4, 30.0, 28.0), row("b", "random", 4, 20.0, 18.0), row("a", "random", 8, 31.0, 28.0)];
        let surfaces = vec!["a".to_string(), "b".to_string()];
        let pts = mean_curve(&rows, &surfaces, "random", |r| r.psnr_sr_unacquired_db);
        assert_eq!(pts.len(), 1);
        assert!((pts[0].1 - 25.0).abs() < 1e-12);
        rows[1].status = "failed: x".into();
        assert!(mean_curve(&rows, &surfaces, "random", |r| r.psnr_sr_unacquired_db).is_empty());
    }
}
