//! The evaluation grid — surfaces × patch budgets × selection strategies — and the validated run
//! configuration of every grid point: the base configuration with the surface, the budget and the
//! strategy overridden, and the number of held-out validation patches adapted to the budget.

use super::EvalError;
use crate::config::{RunConfig, RunSpec};
use crate::select::SelectionStrategy;
use afm_sim::{GrainsSpec, GratingSpec, ParticlesSpec, StepSpec, SurfaceSpec, TerracesSpec};
use std::path::PathBuf;

/// The procedural surfaces an evaluation covers by default.
pub const PROCEDURAL_KINDS: [&str; 4] = ["terraces", "grains", "particles", "grating"];

/// One surface of the evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalSurface {
    /// A procedural surface of the simulator by kind ("terraces", "grains", "particles", "grating",
    /// "step"): the base configuration's own surface when it is of that kind, else the generator's
    /// defaults with the base surface's size and grid.
    Procedural(String),
    /// A real HR image (.ibw, pyNSID .h5, .npy) replayed as the surface (`RunSpec::replay`):
    /// the frame becomes the image's own area and pixel grid.
    File {
        /// The image file.
        path: PathBuf,
        /// Its channel (None: the first height channel).
        channel: Option<String>,
    },
}

impl EvalSurface {
    /// A procedural surface by kind; errors on an unknown kind.
    pub fn procedural(kind: &str) -> Result<Self, EvalError> {
        let kind = kind.trim().to_ascii_lowercase();
        match kind.as_str() {
            "terraces" | "grains" | "particles" | "grating" | "step" => Ok(Self::Procedural(kind)),
            _ => Err(EvalError::Grid(format!("unknown surface kind {kind:?} (terraces, grains, particles, grating, step)"))),
        }
    }

    /// A file from `PATH[:CHANNEL]` (the channel is what follows the last ':' when it holds no path
    /// separator).
    pub fn file(arg: &str) -> Self {
        match arg.rsplit_once(':') {
            Some((path, channel)) if !path.is_empty() && !channel.is_empty() && !channel.contains(['/', '\\']) => {
                Self::File { path: PathBuf::from(path), channel: Some(channel.to_string()) }
            }
            _ => Self::File { path: PathBuf::from(arg), channel: None },
        }
    }

    /// Short name used in reports and folder names: the kind, or the file's stem.
    pub fn label(&self) -> String {
        match self {
            Self::Procedural(kind) => kind.clone(),
            Self::File { path, .. } => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into()),
        }
    }

    /// Applies the surface to `config`.
    fn apply(&self, config: &mut RunConfig) -> Result<(), EvalError> {
        match self {
            Self::Procedural(kind) => {
                config.simulator.surface = procedural_spec(kind, &config.simulator.surface)?;
                config.simulator.surface_file = None;
                config.simulator.surface_channel = None;
                Ok(())
            }
            Self::File { path, channel } => {
                RunSpec::replay(config, path, channel.as_deref()).map_err(|e| EvalError::Replay { path: path.clone(), source: Box::new(e) })
            }
        }
    }
}

/// The surface spec of `kind`: `base` itself when of that kind, else the defaults of the kind with
/// `base`'s side (m) and grid (px).
fn procedural_spec(kind: &str, base: &SurfaceSpec) -> Result<SurfaceSpec, EvalError> {
    if base.kind() == kind {
        return Ok(base.clone());
    }
    let (size_m, pixels) = match base {
        SurfaceSpec::Terraces(s) => (s.size_m, s.pixels),
        SurfaceSpec::Grains(s) => (s.size_m, s.pixels),
        SurfaceSpec::Particles(s) => (s.size_m, s.pixels),
        SurfaceSpec::Grating(s) => (s.size_m, s.pixels),
        SurfaceSpec::Step(s) => (s.size_m, s.pixels),
    };
    Ok(match kind {
        "terraces" => SurfaceSpec::Terraces(TerracesSpec { size_m, pixels, ..Default::default() }),
        "grains" => SurfaceSpec::Grains(GrainsSpec { size_m, pixels, ..Default::default() }),
        "particles" => SurfaceSpec::Particles(ParticlesSpec { size_m, pixels, ..Default::default() }),
        "grating" => SurfaceSpec::Grating(GratingSpec { size_m, pixels, ..Default::default() }),
        "step" => SurfaceSpec::Step(StepSpec { size_m, pixels, ..Default::default() }),
        other => return Err(EvalError::Grid(format!("unknown surface kind {other:?}"))),
    })
}

/// What to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalGrid {
    /// The surfaces.
    pub surfaces: Vec<EvalSurface>,
    /// Patch budgets (HR patches per run).
    pub budgets: Vec<usize>,
    /// Strategies; `All` (every tile, the full-scan reference) runs once per surface whatever the budgets.
    pub strategies: Vec<SelectionStrategy>,
    /// Runs of the random strategy per surface and budget, with `[run] seed` = base seed + 0, 1, …
    pub random_seeds: usize,
}

/// One grid point, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// Surface label.
    pub surface: String,
    /// Selection strategy.
    pub strategy: SelectionStrategy,
    /// Requested picks (for `All`: every tile of the grid).
    pub n_select: usize,
    /// Acquired patches held out for early stopping in this run.
    pub n_val: usize,
    /// The run folder, relative to the evaluation folder (e.g. "terraces/random-04").
    pub folder: PathBuf,
    /// The validated configuration of the run.
    pub spec: RunSpec,
}

impl PlannedRun {
    /// "terraces / random / 4 picks".
    pub fn label(&self) -> String {
        match self.strategy {
            SelectionStrategy::All => format!("{} / all tiles ({})", self.surface, self.n_select),
            s => format!("{} / {} / {} picks", self.surface, s.name(), self.n_select),
        }
    }
}

/// Validation patches held out for a run with `n_patches` acquired patches when the base
/// configuration asks for `base_n_val`: at most a quarter of the patches (rounded down), so a 2-pick
/// run trains on both patches (no early stopping: it runs to its step or time budget), a 4-pick run
/// holds out 1, and 8 or more picks keep the base value (2 in the shipped configs).
pub fn held_out_patches(base_n_val: usize, n_patches: usize) -> usize {
    base_n_val.min(n_patches / 4)
}

/// Every grid point of `grid` on top of `base`, validated before anything runs. Surfaces come
/// outermost, then strategies, then budgets; `All` once per surface, last.
pub fn plan_runs(base: &RunSpec, grid: &EvalGrid) -> Result<Vec<PlannedRun>, EvalError> {
    if grid.surfaces.is_empty() || grid.strategies.is_empty() {
        return Err(EvalError::Grid("the grid needs at least one surface and one strategy".into()));
    }
    let sampled: Vec<SelectionStrategy> = grid.strategies.iter().copied().filter(|s| *s != SelectionStrategy::All).collect();
    if !sampled.is_empty() && grid.budgets.is_empty() {
        return Err(EvalError::Grid("give at least one patch budget".into()));
    }
    let mut runs = Vec::new();
    let mut labels = std::collections::HashSet::new();
    for surface in &grid.surfaces {
        let mut label = sanitize(&surface.label());
        while !labels.insert(label.clone()) {
            label.push('_');
        }
        let mut config = base.config.clone();
        surface.apply(&mut config)?;
        let seeds = |s: SelectionStrategy| if s == SelectionStrategy::Random { grid.random_seeds.max(1) } else { 1 };
        let mut points: Vec<(SelectionStrategy, usize, Option<usize>)> = sampled
            .iter()
            .flat_map(|&s| grid.budgets.iter().flat_map(move |&b| (0..seeds(s)).map(move |k| (s, b, (seeds(s) > 1).then_some(k)))))
            .collect();
        if grid.strategies.contains(&SelectionStrategy::All) {
            points.push((SelectionStrategy::All, config.select.grid * config.select.grid, None));
        }
        for (strategy, n_select, seed) in points {
            runs.push(plan_one(base, &config, &label, strategy, n_select, seed)?);
        }
    }
    Ok(runs)
}

fn plan_one(
    base: &RunSpec,
    config: &RunConfig,
    surface: &str,
    strategy: SelectionStrategy,
    n_select: usize,
    seed: Option<usize>,
) -> Result<PlannedRun, EvalError> {
    let mut c = config.clone();
    c.select.strategy = strategy;
    c.select.n_select = n_select;
    c.train.n_val = held_out_patches(base.config.train.n_val, n_select);
    if let Some(k) = seed {
        c.run.seed = base.config.run.seed + k as u64;
    }
    let folder = match (strategy, seed) {
        (SelectionStrategy::All, _) => PathBuf::from(surface).join("all"),
        (s, None) => PathBuf::from(surface).join(format!("{}-{n_select:02}", s.name())),
        (s, Some(k)) => PathBuf::from(surface).join(format!("{}-{n_select:02}-s{k}", s.name())),
    };
    c.run.name = format!("eval-{surface}-{}", folder.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default());
    let label = format!("{surface} / {} / {n_select}", strategy.name());
    let spec = RunSpec::from_config(c, &base.source).map_err(|e| EvalError::Config { run: label, source: Box::new(e) })?;
    Ok(PlannedRun { surface: surface.to_string(), strategy, n_select, n_val: spec.config.train.n_val, folder, spec })
}

/// Keeps letters, digits, '-' and '_' (anything else becomes '_'), so a label is a safe folder name.
fn sanitize(label: &str) -> String {
    let s: String = label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.is_empty() {
        "surface".into()
    } else {
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::Path;

    fn base() -> RunSpec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/dry-run.toml");
        RunSpec::load(&path).unwrap()
    }

    #[test]
    fn file_arguments_split_off_a_channel() {
        assert_eq!(
            EvalSurface::file("a/b.ibw:HeightRetrace"),
            EvalSurface::File { path: "a/b.ibw".into(), channel: Some("HeightRetrace".into()) }
        );
        assert_eq!(EvalSurface::file("a/b.h5"), EvalSurface::File { path: "a/b.h5".into(), channel: None });
        assert_eq!(EvalSurface::file("c:/x/b.h5"), EvalSurface::File { path: "c:/x/b.h5".into(), channel: None });
        assert_eq!(EvalSurface::file("a/b.h5").label(), "b");
        assert!(EvalSurface::procedural("moon").is_err());
    }

    #[test]
    fn held_out_patches_never_leave_fewer_than_three_quarters_to_train() {
        let got: Vec<usize> = [1, 2, 3, 4, 8, 12, 20, 64].iter().map(|&n| held_out_patches(2, n)).collect();
        assert_eq!(got, vec![0, 0, 0, 1, 2, 2, 2, 2]);
    }

    #[test]
    fn the_grid_overrides_surface_budget_strategy_and_n_val() {
        let grid = EvalGrid {
            surfaces: vec![EvalSurface::procedural("terraces").unwrap(), EvalSurface::procedural("grains").unwrap()],
            budgets: vec![2, 8],
            strategies: vec![SelectionStrategy::FarthestFirst, SelectionStrategy::Random, SelectionStrategy::All],
            random_seeds: 1,
        };
        let b = base();
        let runs = plan_runs(&b, &grid).unwrap();
        assert_eq!(runs.len(), 2 * (2 * 2 + 1));
        let r = &runs[0];
        assert_eq!((r.surface.as_str(), r.strategy, r.n_select, r.n_val), ("terraces", SelectionStrategy::FarthestFirst, 2, 0));
        assert_eq!(r.folder, PathBuf::from("terraces/farthest_first-02"));
        // terraces keeps the base config's own surface; grains gets defaults at the base size
        assert_eq!(r.spec.config.simulator.surface, b.config.simulator.surface);
        let g = runs.iter().find(|r| r.surface == "grains" && r.strategy == SelectionStrategy::All).unwrap();
        assert_eq!((g.n_select, g.spec.n_patches(), g.folder.clone()), (64, 64, PathBuf::from("grains/all")));
        match &g.spec.config.simulator.surface {
            SurfaceSpec::Grains(s) => assert_eq!((s.size_m, s.pixels), (10e-6, 1024)),
            other => panic!("expected grains, got {}", other.kind()),
        }
        let r8 = runs.iter().find(|r| r.strategy == SelectionStrategy::Random && r.n_select == 8).unwrap();
        assert_eq!((r8.n_val, r8.spec.config.select.n_select), (2, 8));
        // distinct configurations → distinct identities
        let hashes: std::collections::HashSet<_> = runs.iter().map(|r| r.spec.hash()).collect();
        assert_eq!(hashes.len(), runs.len());
        // several random seeds: one run each, with its own seed and folder
        let seeded = plan_runs(&b, &EvalGrid { random_seeds: 3, ..grid }).unwrap();
        let random: Vec<_> = seeded.iter().filter(|r| r.strategy == SelectionStrategy::Random && r.n_select == 8).collect();
        assert_eq!(random.len() / 2, 3, "3 seeds on each of 2 surfaces");
        assert_eq!(random[2].folder, PathBuf::from("terraces/random-08-s2"));
        assert_eq!(random[2].spec.config.run.seed, b.config.run.seed + 2);
    }
}
