//! `afm-spark inspect FILE`: what a data file holds — channels, image size, physical scan size and
//! pixel pitch, and the acquisition parameters a microscopist checks first. A run's session file
//! (`session.h5`, recognised by its root `format` attribute before pyNSID is tried) gets a summary of
//! the run instead: config hash, LR frame, picks, journaled patches, reconstruction and metrics.

use afm_spark::io::{self, FileFormat, LoadedFile};
use afm_spark::offline::{is_session_file, SessionSummary};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `afm-spark inspect` (its help text is the doc comment of `Command::Inspect`).
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The file to inspect (.ibw, .gwy, .h5 or .npy).
    pub file: PathBuf,
    /// Also print every metadata entry (the whole Asylum note).
    #[arg(long)]
    pub all_metadata: bool,
}

/// Metadata keys worth showing, in this order, when the file has them.
const KEY_PARAMETERS: [&str; 24] = [
    "MicroscopeModel",
    "ImagingMode",
    "ScanMode",
    "ScanRate",
    "ScanPoints",
    "ScanLines",
    "ScanAngle",
    "XOffset",
    "YOffset",
    "ScanDown",
    "Setpoint",
    "AmplitudeSetpointVolts",
    "AmplitudeSetpointMeters",
    "DeflectionSetpointVolts",
    "IntegralGain",
    "ProportionalGain",
    "DriveAmplitude",
    "DriveFrequency",
    "SpringConstant",
    "InvOLS",
    "AmpInvOLS",
    "ImageFrameTime",
    "Date",
    "Time",
];

/// A length in the most readable of m, mm, µm, nm, pm, with up to 5 significant digits.
fn length(m: f64) -> String {
    let a = m.abs();
    let (scale, unit) = match a {
        0.0 => (1.0, "m"),
        a if a >= 1.0 => (1.0, "m"),
        a if a >= 1e-3 => (1e3, "mm"),
        a if a >= 1e-6 => (1e6, "µm"),
        a if a >= 1e-9 => (1e9, "nm"),
        _ => (1e12, "pm"),
    };
    format!("{} {unit}", number(m * scale))
}

/// A number with up to 5 significant digits, trailing zeros dropped; exponent notation below 1e-3.
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    if v.abs() < 1e-3 {
        return format!("{v:.4e}");
    }
    let digits = (4 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn report(f: &LoadedFile, all_metadata: bool) -> String {
    let mut out = String::new();
    let fr = &f.frame;
    let w = &mut out;
    let _ = writeln!(w, "file         {}", f.path.display());
    let format = match (f.format, f.metadata.get("IgorVersion")) {
        (FileFormat::Ibw, Some(v)) => format!("{}, version {v}", f.format.describe()),
        _ => f.format.describe().to_string(),
    };
    let _ = writeln!(w, "format       {format}");
    let _ = writeln!(w, "channels     {}", fr.channels.len());
    for c in &fr.channels {
        let finite: Vec<f32> = c.data.iter().copied().filter(|v| v.is_finite()).collect();
        let bad = c.data.len() - finite.len();
        let (lo, hi) = finite.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let show = |v: f32| if c.unit == "m" { length(f64::from(v)) } else { number(f64::from(v)) };
        let range = if finite.is_empty() { "no finite values".to_string() } else { format!("{} … {}", show(lo), show(hi)) };
        let unit = if c.unit.is_empty() { "-" } else { c.unit.as_str() };
        let nan = if bad > 0 { format!("  ({bad} NaN/inf)") } else { String::new() };
        let _ = writeln!(w, "  {:<22} {:<4} {range}{nan}", c.label(), unit);
    }
    if let Some(others) = f.metadata.get(io::nsid::OTHER_CHANNELS_KEY) {
        let _ = writeln!(w, "  (also in the file, on another raster: {others})");
    }
    let _ = writeln!(w, "shape        {} × {} (points × lines)", fr.raster.points, fr.raster.lines);
    let (px, py) = fr.region.pitch_m(&fr.raster);
    if f.geometry_known {
        let r = &fr.region;
        let _ = writeln!(w, "scan size    {} × {}", length(r.width_m), length(r.height_m));
        let _ = writeln!(w, "pixel pitch  {} × {}", length(px), length(py));
        let _ = writeln!(w, "centre       ({}, {}), angle {}°", length(r.center_x_m), length(r.center_y_m), number(r.angle_deg));
    } else {
        let _ = writeln!(
            w,
            "scan size    unknown: the file carries no geometry (assuming a pixel pitch of {})",
            length(io::DEFAULT_PIXEL_PITCH_M)
        );
    }
    if fr.line_rate_hz > 0.0 {
        let tip_speed = 2.0 * fr.region.width_m * fr.line_rate_hz;
        let _ = writeln!(
            w,
            "scan rate    {} Hz (lines per second): {} s per frame, tip speed {}/s",
            number(fr.line_rate_hz),
            number(fr.raster.lines as f64 / fr.line_rate_hz),
            length(tip_speed)
        );
    } else {
        let _ = writeln!(w, "scan rate    unknown");
    }
    let present: Vec<(&str, &String)> = KEY_PARAMETERS.iter().filter_map(|k| f.metadata.get(*k).map(|v| (*k, v))).collect();
    if !present.is_empty() {
        let _ = writeln!(w, "acquisition parameters");
        for (k, v) in present {
            let _ = writeln!(w, "  {k:<24} {v}");
        }
    }
    if all_metadata {
        let _ = writeln!(w, "metadata ({} entries)", f.metadata.len());
        for (k, v) in &f.metadata {
            let _ = writeln!(w, "  {k:<32} {v}");
        }
    } else if f.metadata.len() > KEY_PARAMETERS.len() {
        let _ = writeln!(w, "({} metadata entries in all; --all-metadata lists them)", f.metadata.len());
    }
    out
}

/// A value of the metrics JSON at `path` ("psnr.sr.unacquired") as a number, if present.
fn metric(m: &serde_json::Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(m, |v, k| v.get(k)).and_then(serde_json::Value::as_f64)
}

fn session_report(s: &SessionSummary) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "file         {}", s.path.display());
    let _ = writeln!(w, "format       afm-spark session (HDF5)");
    let name = s.run_name.as_deref().map(|n| format!("run {n:?}, ")).unwrap_or_default();
    let _ = writeln!(w, "config       {name}hash {}", s.config_hash);
    if let Some(problem) = &s.config_problem {
        let _ = writeln!(w, "             (the stored config does not validate: {problem})");
    }
    match &s.lr {
        Some(lr) => {
            let _ = writeln!(
                w,
                "LR frame     {} × {} (points × lines), {} × {}, {} Hz, {} s of instrument time; channels {}",
                lr.raster.points,
                lr.raster.lines,
                length(lr.region.width_m),
                length(lr.region.height_m),
                number(lr.line_rate_hz),
                number(lr.instrument_time_s),
                lr.channels.join(", ")
            );
        }
        None => {
            let _ = writeln!(w, "LR frame     not acquired yet");
        }
    }
    let planned = s.planned_patches.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
    match &s.picks {
        Some(picks) => {
            let grid = s.grid.map(|g| format!(" on a {g}×{g} grid")).unwrap_or_default();
            let list: Vec<String> = picks.iter().map(|t| t.to_string()).collect();
            let _ = writeln!(w, "picks        {} tiles{grid}, scan order: {}", picks.len(), list.join(", "));
        }
        None => {
            let _ = writeln!(w, "picks        not selected yet");
        }
    }
    let done = s.journaled_tiles.len();
    let state = match s.planned_patches {
        Some(n) if done >= n => " (complete)",
        Some(_) => " (incomplete: continue with afm-spark run --resume)",
        None => "",
    };
    let _ = writeln!(w, "patches      {done} of {planned} journaled{state}");
    if s.arrays.is_empty() {
        let _ = writeln!(w, "reconstruction  none stored");
    } else {
        let list: Vec<String> = s.arrays.iter().map(|(n, (l, p))| format!("{n} ({p}×{l})")).collect();
        let _ = writeln!(w, "reconstruction  {}", list.join(", "));
    }
    if let Some(path) = &s.checkpoint_path {
        let _ = writeln!(w, "checkpoint   {path}");
    }
    match &s.metrics {
        Some(m) => {
            let stage = m.get("stage").and_then(|v| v.as_str()).unwrap_or("?");
            let device = m.get("device").and_then(|v| v.as_str()).unwrap_or("?");
            let _ = writeln!(w, "metrics      stored ({stage}, device {device})");
            if let Some(f) = metric(m, "acquisition.fraction") {
                let _ = writeln!(w, "  acquisition time   {:.1} % of a full HR frame", 100.0 * f);
            }
            for (label, key) in [("SR", "sr"), ("bicubic", "bicubic"), ("nearest", "nearest")] {
                let p = metric(m, &format!("psnr.{key}.unacquired"));
                let q = metric(m, &format!("ssim.{key}.unacquired"));
                if let (Some(p), Some(q)) = (p, q) {
                    let _ = writeln!(w, "  {label:<18} PSNR {p:.2} dB, SSIM {q:.4} (unacquired region)");
                }
            }
        }
        None => {
            let _ = writeln!(w, "metrics      none stored");
        }
    }
    out
}

/// Loads the file and prints the report on stdout.
pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    if is_session_file(&args.file) {
        let summary = SessionSummary::read(&args.file)?;
        print!("{}", session_report(&summary));
        return Ok(());
    }
    // IoError messages name the file and the problem; keep them as one line.
    let loaded = io::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::debug!("{}: read as {}, {} channels", args.file.display(), loaded.format.describe(), loaded.frame.channels.len());
    print!("{}", report(&loaded, args.all_metadata));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_pick_a_readable_unit() {
        assert_eq!(length(2e-6), "2 µm");
        assert_eq!(length(7.843137254901961e-9), "7.8431 nm");
        assert_eq!(length(0.0), "0 m");
        assert_eq!(length(-3.3685e-6), "-3.3685 µm");
        assert_eq!(number(1.0016), "1.0016");
        assert_eq!(number(255.5911), "255.59");
        assert_eq!(number(4.48e-8), "4.4800e-8");
    }
}
