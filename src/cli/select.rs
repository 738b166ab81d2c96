//! `afm-spark select --lr FILE`: the closed loop's tile selection on any LR image on disk — the LR
//! levelled, tiled on its own pixels, the five indicators per tile, the picks — printed as a table and
//! drawn as a PNG of the picks over the levelled image.

use afm_spark::level::LevelConfig;
use afm_spark::offline::{picks_png, ConfigSections, LrImage};
use afm_spark::pipeline::ChannelKind;
use afm_spark::select::{indicator_table, select_on_lr, SelectOptions, SelectionStrategy};
use afm_spark::upsample::Interpolation;
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `afm-spark select`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// The LR image: an Asylum .ibw, a Gwyddion .gwy, a pyNSID .h5 or a NumPy .npy (2-D float array).
    #[arg(long, value_name = "FILE")]
    pub lr: PathBuf,
    /// Channel of a .ibw/.gwy/.h5, by label (HeightRetrace) or name (Height); default: the first height
    /// channel. A .npy has only one.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Take [select] (grid, n_select, strategy, weights, texture cut-off), [level] and [run] seed
    /// from this run configuration; the options below override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Tile selection.
    #[command(flatten)]
    pub select: SelectFlags,
    /// The PNG of the picks [default: <LR name>_picks.png in --out, or next to the LR file].
    #[arg(long, value_name = "PATH")]
    pub png: Option<PathBuf>,
    /// Folder for the PNG (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The tile-selection options shared by `select` and `train`; each overrides the config's `[select]`.
#[derive(Debug, Clone, Args)]
pub struct SelectFlags {
    /// Tiles per side of the tiling [default: 8, or the config's].
    #[arg(long, value_name = "N")]
    pub grid: Option<usize>,
    /// How many tiles to pick [default: 20, or the config's].
    #[arg(long, value_name = "N")]
    pub n_select: Option<usize>,
    /// How tiles are chosen: farthest-first (the method), random, uniform (spread over the frame) or
    /// all [default: farthest-first, or the config's].
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,
    /// Weight of the standardised mean height.
    #[arg(long, value_name = "W")]
    pub w_mean: Option<f64>,
    /// Weight of the standardised height standard deviation.
    #[arg(long, value_name = "W")]
    pub w_std: Option<f64>,
    /// Weight of the standardised gradient (slope) magnitude.
    #[arg(long, value_name = "W")]
    pub w_grad: Option<f64>,
    /// Weight of the standardised |Laplacian| (curvature).
    #[arg(long, value_name = "W")]
    pub w_lap: Option<f64>,
    /// Weight of the standardised high-frequency texture ratio.
    #[arg(long, value_name = "W")]
    pub w_texture: Option<f64>,
    /// λ: how much the slope + curvature score adds to the farthest-first distance.
    #[arg(long, value_name = "L")]
    pub lambda: Option<f64>,
    /// Seed of the random strategy [default: 0, or the config's [run] seed].
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Interpolations on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Interp {
    /// The nearest LR pixel.
    Nearest,
    /// Linear in each axis.
    Bilinear,
    /// Cubic convolution (Catmull-Rom) in each axis.
    Bicubic,
}

impl From<Interp> for Interpolation {
    fn from(i: Interp) -> Self {
        match i {
            Interp::Nearest => Interpolation::Nearest,
            Interp::Bilinear => Interpolation::Bilinear,
            Interp::Bicubic => Interpolation::Bicubic,
        }
    }
}

/// Selection strategies on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// Diverse, informative tiles: farthest-first in indicator space.
    FarthestFirst,
    /// Tiles drawn at random (seeded).
    Random,
    /// Tiles spread evenly over the frame.
    Uniform,
    /// Every tile.
    All,
}

impl From<Strategy> for SelectionStrategy {
    fn from(s: Strategy) -> Self {
        match s {
            Strategy::FarthestFirst => SelectionStrategy::FarthestFirst,
            Strategy::Random => SelectionStrategy::Random,
            Strategy::Uniform => SelectionStrategy::Uniform,
            Strategy::All => SelectionStrategy::All,
        }
    }
}

impl SelectFlags {
    /// The selection options: defaults, then the config's `[select]` and `[run] seed`, then these flags.
    pub fn options(&self, sections: &ConfigSections) -> SelectOptions {
        let config_seed = sections.run.as_ref().map(|r| r.seed).unwrap_or(0);
        let mut o = match &sections.select {
            Some(s) => SelectOptions::from_section(s, config_seed),
            None => SelectOptions { seed: config_seed, ..SelectOptions::default() },
        };
        o.grid = self.grid.unwrap_or(o.grid);
        o.n_select = self.n_select.unwrap_or(o.n_select);
        o.strategy = self.strategy.map(Into::into).unwrap_or(o.strategy);
        o.seed = self.seed.unwrap_or(o.seed);
        let w = &mut o.weights;
        let flags = [self.w_mean, self.w_std, self.w_grad, self.w_lap, self.w_texture, self.lambda];
        for (slot, v) in [&mut w.mean, &mut w.std, &mut w.grad, &mut w.lap, &mut w.texture, &mut w.lambda].into_iter().zip(flags) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        o
    }
}

fn default_png(args: &SelectArgs) -> PathBuf {
    let stem = args.lr.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "lr".into());
    let name = format!("{stem}_picks.png");
    match &args.out {
        Some(dir) => dir.join(name),
        None => args.lr.parent().map(Path::to_path_buf).unwrap_or_default().join(name),
    }
}

/// Computes, prints and draws the selection.
pub fn run(args: SelectArgs) -> anyhow::Result<()> {
    let sections = match &args.config {
        Some(path) => ConfigSections::load(path)?,
        None => ConfigSections::default(),
    };
    let opts = args.select.options(&sections);
    let lr = LrImage::load(&args.lr, args.channel.as_deref())?;
    let level: LevelConfig = sections.level.unwrap_or_default();
    let height = ChannelKind::of(&lr.channel).is_height();
    let levelled = level.apply(lr.data.view(), height).data;
    let sel = select_on_lr(levelled.view(), None, &opts)?;

    let rect = sel.tiling.rect(0);
    println!("LR           {} ({}, {}×{} px)", lr.path.display(), lr.channel, lr.raster.points, lr.raster.lines);
    println!(
        "grid         {}×{} tiles of about {}×{} LR px, levelled {}",
        opts.grid,
        opts.grid,
        rect.cols,
        rect.rows,
        level.mode_for(height).name()
    );
    let w = &opts.weights;
    println!(
        "selection    {}, weights mean {} std {} grad {} lap {} texture {}, λ {}, texture cut-off {} of the LR Nyquist",
        opts.strategy.name(),
        w.mean,
        w.std,
        w.grad,
        w.lap,
        w.texture,
        w.lambda,
        opts.texture.cutoff_fraction_of_nyquist
    );
    print!("{}", indicator_table(&sel, &lr.unit));
    let list: Vec<String> = sel.picks.iter().map(|t| t.to_string()).collect();
    println!("picks ({}, scan order): {}", sel.picks.len(), list.join(", "));

    let png = args.png.clone().unwrap_or_else(|| default_png(&args));
    if let Some(dir) = png.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let title = format!("{} picks on the LR, levelled {}", sel.picks.len(), level.mode_for(height).name());
    let rects: Vec<_> = sel.picks.iter().map(|&t| sel.tiling.rect(t)).collect();
    picks_png(&png, &lr, levelled.view(), &rects, &title)?;
    println!("figure: {}", png.display());
    Ok(())
}

/// "nearest", "bilinear" or "bicubic".
pub fn interp_name(i: Interpolation) -> &'static str {
    match i {
        Interpolation::Nearest => "nearest",
        Interpolation::Bilinear => "bilinear",
        Interpolation::Bicubic => "bicubic",
    }
}
