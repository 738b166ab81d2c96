//! `afm-spark simulate`: scans the configured surface with the simulator at one or several scan-rate
//! factors and writes them, with the clean ground truth, to a pyNSID HDF5 file — the original project's
//! HR → LR generation, with real scan physics instead of a replayed image.

use afm_drivers::{ChannelImage, Frame, ScanDirection, ScanRequest};
use afm_spark::backend;
use afm_spark::config::RunSpec;
use afm_spark::io::{npy, nsid};
use anyhow::{bail, Context};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `afm-spark simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Run configuration: its [simulator] surface and physics, [frame] region, raster and HR line rate.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Output pyNSID HDF5 file (refused if it exists).
    #[arg(long, value_name = "FILE.h5")]
    pub out: PathBuf,
    /// Scan-rate factors relative to the HR line rate, comma-separated. Factor 1 scans the full HR
    /// raster; every other factor scans the LR raster (HR ÷ decimation), as the original 4×/8× data.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    pub rate_factors: Vec<f64>,
    /// Points and lines divisor for factors other than 1 (default: the config's lr.decimation).
    #[arg(long)]
    pub decimation: Option<usize>,
    /// Also write each scan and the ground truth as .npy next to FILE.h5 (<stem>_<factor>x.npy,
    /// <stem>_ground_truth.npy), the original scripts' exchange format.
    #[arg(long)]
    pub npy: bool,
}

/// Scans and writes.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if args.out.exists() {
        bail!("{} already exists; choose another --out", args.out.display());
    }
    if args.rate_factors.is_empty() || args.rate_factors.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
        bail!("--rate-factors {:?}: every factor must be a positive number", args.rate_factors);
    }
    let spec = RunSpec::load(&args.config)?;
    let decimation = args.decimation.unwrap_or(spec.config.lr.decimation).max(1);
    let surface = backend::run_surface(&spec)?;
    let sim = backend::simulator(&spec, surface)?;
    let (region, hr) = (spec.hr_region(), spec.hr_raster());
    let mut channels = Vec::new();
    let truth = sim.ground_truth(&region, &hr);
    let truth_frame = Frame {
        region,
        raster: hr,
        line_rate_hz: spec.config.frame.hr_line_rate_hz,
        channels: vec![ChannelImage { name: "GroundTruth".into(), direction: ScanDirection::Trace, unit: "m".into(), data: truth.clone() }],
        instrument_time_s: 0.0,
        acquired_at_unix_s: afm_drivers::frame::unix_now_s(),
    };
    let meta = BTreeMap::from([("afm_spark_content".to_string(), "clean surface (no tip, feedback or noise)".to_string())]);
    channels.push(nsid::channel_from_image(&truth_frame.channels[0], &truth_frame, &meta)?);
    let stem = args.out.with_extension("");
    if args.npy {
        npy::write_array(&PathBuf::from(format!("{}_ground_truth.npy", stem.display())), &truth)?;
    }
    for &factor in &args.rate_factors {
        let raster = if factor == 1.0 { hr } else { afm_drivers::Raster::new(hr.points / decimation, hr.lines / decimation) };
        let req = ScanRequest {
            region,
            raster,
            line_rate_hz: spec.config.frame.hr_line_rate_hz * factor,
            channels: vec![spec.config.frame.channel.clone()],
            directions: spec.directions(),
        };
        let frame = sim.scan_blocking(&req).with_context(|| format!("scanning at {factor}×"))?;
        let meta = BTreeMap::from([("afm_spark_rate_factor".to_string(), factor.to_string())]);
        for ch in &frame.channels {
            channels.push(nsid::channel_from_image(ch, &frame, &meta)?);
        }
        if args.npy {
            if let Some(ch) = frame.channels.first() {
                npy::write_array(&PathBuf::from(format!("{}_{factor}x.npy", stem.display())), &ch.data)?;
            }
        }
        println!(
            "{factor}× : {}×{} px at {:.3} Hz, {:.1} s of instrument time",
            raster.points, raster.lines, req.line_rate_hz, frame.instrument_time_s
        );
    }
    nsid::write_channels(&args.out, &channels)?;
    println!("wrote {} channels (ground truth first) to {}", channels.len(), args.out.display());
    Ok(())
}
