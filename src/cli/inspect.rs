//! `afm-spark inspect FILE`: what a data file holds — channels, image size, physical scan size and
//! pixel pitch, and the acquisition parameters a microscopist checks first.

use afm_spark::io::{self, FileFormat, LoadedFile};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `afm-spark inspect` (its help text is the doc comment of `Command::Inspect`).
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The file to inspect (.ibw, .h5 or .npy).
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
    let present: Vec<(&str, &String)> =
        KEY_PARAMETERS.iter().filter_map(|k| f.metadata.get(*k).map(|v| (*k, v))).collect();
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

/// Loads the file and prints the report on stdout.
pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    // IoError messages name the file and the problem; keep them as one line.
    let loaded = io::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
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
