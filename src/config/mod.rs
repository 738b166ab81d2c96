//! Run configuration: the raw TOML a user writes (serde, unit-suffixed keys) and the validated
//! [`RunSpec`] the rest of the program trusts. Every error names the file, the field and the value.

mod error;
mod sections;

pub use error::ConfigError;
pub use sections::*;

use afm_drivers::{Directions, PixelRect, Raster, ScanRegion};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A validated run configuration with its derived geometry and its identity (hash).
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The configuration as validated (defaults filled in).
    pub config: RunConfig,
    /// Where it was read from (for messages).
    pub source: PathBuf,
}

impl RunSpec {
    /// Reads and validates a TOML run configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.to_path_buf(), reason: e.to_string() })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates TOML text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &Path) -> Result<Self, ConfigError> {
        let config: RunConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: source.to_path_buf(), reason: e.to_string() })?;
        Self::from_config(config, source)
    }

    /// Validates an already-parsed configuration.
    pub fn from_config(config: RunConfig, source: &Path) -> Result<Self, ConfigError> {
        let spec = Self { config, source: source.to_path_buf() };
        spec.validate()?;
        Ok(spec)
    }

    fn invalid(&self, field: &str, value: impl std::fmt::Display, why: &str) -> ConfigError {
        ConfigError::Invalid { path: self.source.clone(), field: field.into(), value: value.to_string(), reason: why.into() }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.config;
        let f = &c.frame;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(f.scan_size_m) {
            return Err(self.invalid("frame.scan_size_m", f.scan_size_m, "must be a positive length in metres"));
        }
        if let Some(h) = f.scan_height_m {
            if !positive(h) {
                return Err(self.invalid("frame.scan_height_m", h, "must be a positive length in metres"));
            }
        }
        for (name, v) in [("frame.center_x_m", f.center_x_m), ("frame.center_y_m", f.center_y_m), ("frame.angle_deg", f.angle_deg)] {
            if !v.is_finite() {
                return Err(self.invalid(name, v, "must be a finite number"));
            }
        }
        if !positive(f.hr_line_rate_hz) {
            return Err(self.invalid("frame.hr_line_rate_hz", f.hr_line_rate_hz, "must be a positive rate in lines per second"));
        }
        if f.hr_points < 8 || f.hr_lines < 8 {
            return Err(self.invalid("frame.hr_points/hr_lines", format!("{}×{}", f.hr_points, f.hr_lines), "need at least 8 × 8 pixels"));
        }
        if !(c.lr.rate_factor.is_finite() && c.lr.rate_factor >= 1.0) {
            return Err(self.invalid("lr.rate_factor", c.lr.rate_factor, "must be ≥ 1 (the LR frame is scanned faster, never slower)"));
        }
        if c.lr.decimation == 0 || f.hr_points / c.lr.decimation < 2 || f.hr_lines / c.lr.decimation < 2 {
            return Err(self.invalid("lr.decimation", c.lr.decimation, "must leave at least 2 × 2 LR pixels"));
        }
        let s = &c.select;
        if s.grid == 0 || f.hr_points / s.grid < 4 || f.hr_lines / s.grid < 4 {
            return Err(self.invalid("select.grid", s.grid, "tiles must be at least 4 px on a side"));
        }
        if f.hr_points % s.grid != 0 || f.hr_lines % s.grid != 0 {
            return Err(self.invalid(
                "select.grid",
                s.grid,
                &format!("must divide the HR raster {}×{} so every tile has the same size", f.hr_points, f.hr_lines),
            ));
        }
        let tiles = s.grid * s.grid;
        if s.n_select == 0 || s.n_select > tiles {
            return Err(self.invalid("select.n_select", s.n_select, &format!("must be 1 … {tiles} (the tiles of a {0}×{0} grid)", s.grid)));
        }
        let w = &s.weights;
        for (name, v) in [("mean", w.mean), ("std", w.std), ("grad", w.grad), ("lap", w.lap), ("texture", w.texture), ("lambda", w.lambda)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(self.invalid(&format!("select.weights.{name}"), v, "must be a finite number ≥ 0"));
            }
        }
        let rc = s.texture_cutoff_fraction_of_nyquist;
        if !(rc > 0.0 && rc < 1.0) {
            return Err(self.invalid("select.texture_cutoff_fraction_of_nyquist", rc, "must lie in (0, 1)"));
        }
        let a = &s.active;
        if a.seed_picks == 0 {
            return Err(self.invalid("select.active.seed_picks", 0, "must be ≥ 1 (the picks made farthest-first before any model exists)"));
        }
        if a.steps_per_pick == 0 {
            return Err(self.invalid("select.active.steps_per_pick", 0, "must be ≥ 1"));
        }
        if !(a.indicator_blend.is_finite() && a.indicator_blend >= 0.0) {
            return Err(self.invalid("select.active.indicator_blend", a.indicator_blend, "must be a finite number ≥ 0"));
        }
        if c.run.threads == Some(0) {
            return Err(self.invalid("run.threads", 0, "must be ≥ 1 (or left out for libtorch's default)"));
        }
        let i = &c.instrument;
        if !(i.settle_s.is_finite() && i.settle_s >= 0.0) {
            return Err(self.invalid("instrument.settle_s", i.settle_s, "must be ≥ 0 seconds"));
        }
        if !positive(i.move_speed_m_per_s) {
            return Err(self.invalid("instrument.move_speed_m_per_s", i.move_speed_m_per_s, "must be a positive speed"));
        }
        if i.backend == Backend::Mfp3d {
            match &i.bridge {
                None => {
                    return Err(self.invalid(
                        "instrument.bridge",
                        "missing",
                        "backend \"mfp3d\" needs an [instrument.bridge] section (transport = \"zeromq-xop\", address)",
                    ))
                }
                Some(b) => {
                    b.client_config().map_err(|e| self.invalid("instrument.bridge", &b.address, &e.to_string()))?;
                }
            }
        }
        for (k, p) in c.peripherals.iter().enumerate() {
            p.validate().map_err(|e| self.invalid(&format!("peripherals[{k}] ({})", p.name), "", &e.to_string()))?;
        }
        c.level.validate().map_err(|e| self.invalid("level", "", &e))?;
        c.register.validate().map_err(|e| self.invalid("register", "", &e))?;
        c.train.validate().map_err(|e| self.invalid(&format!("train.{}", e.field), &e.value, e.why))?;
        c.reconstruct.validate().map_err(|e| self.invalid(&format!("reconstruct.{}", e.field), &e.value, e.why))?;
        c.train.check_sampler(c.reconstruct.steps).map_err(|e| self.invalid(&format!("train.{}", e.field), &e.value, e.why))?;
        let tile = c.tile_px();
        if tile.0 % 4 != 0 || tile.1 % 4 != 0 {
            return Err(self.invalid(
                "select.grid",
                s.grid,
                &format!("tiles are {}×{} px; the model needs sides divisible by 4", tile.0, tile.1),
            ));
        }
        if let Some(crop) = c.train.crop_px {
            if crop > tile.0.min(tile.1) {
                return Err(self.invalid("train.crop_px", crop, &format!("larger than the {}×{} px tiles", tile.0, tile.1)));
            }
        }
        if c.train.n_val >= self.n_patches() {
            return Err(self.invalid(
                "train.n_val",
                c.train.n_val,
                &format!("must be smaller than the {} acquired patches (at least one must train)", self.n_patches()),
            ));
        }
        let p = &i.policy;
        if !(p.timeout_factor.is_finite() && p.timeout_factor >= 0.0 && p.timeout_margin_s.is_finite() && p.timeout_margin_s > 0.0) {
            return Err(self.invalid(
                "instrument.policy",
                format!("timeout_factor {} timeout_margin_s {}", p.timeout_factor, p.timeout_margin_s),
                "timeouts must be finite, factor ≥ 0 and margin > 0 s",
            ));
        }
        Ok(())
    }

    /// The full-resolution frame the run reconstructs: its region.
    pub fn hr_region(&self) -> ScanRegion {
        let f = &self.config.frame;
        let height = f.scan_height_m.unwrap_or_else(|| f.scan_size_m * (f.hr_lines.max(2) - 1) as f64 / (f.hr_points.max(2) - 1) as f64);
        ScanRegion { center_x_m: f.center_x_m, center_y_m: f.center_y_m, width_m: f.scan_size_m, height_m: height, angle_deg: f.angle_deg }
    }

    /// The HR raster.
    pub fn hr_raster(&self) -> Raster {
        Raster::new(self.config.frame.hr_points, self.config.frame.hr_lines)
    }

    /// The LR raster: HR points and lines ÷ decimation.
    pub fn lr_raster(&self) -> Raster {
        let d = self.config.lr.decimation;
        Raster::new(self.config.frame.hr_points / d, self.config.frame.hr_lines / d)
    }

    /// Line rate of the LR frame, lines per second.
    pub fn lr_line_rate_hz(&self) -> f64 {
        self.config.frame.hr_line_rate_hz * self.config.lr.rate_factor
    }

    /// How many HR patches the run acquires (every tile for the "all" strategy).
    pub fn n_patches(&self) -> usize {
        match self.config.select.strategy {
            crate::select::SelectionStrategy::All => self.config.select.grid * self.config.select.grid,
            _ => self.config.select.n_select,
        }
    }

    /// Directions recorded.
    pub fn directions(&self) -> Directions {
        self.config.frame.directions
    }

    /// Real-surface replay: sets the frame to the geometry of the real image `path` (on the image's own
    /// pixel grid) and makes that image the simulated surface. A scan taken at a scan angle is replayed
    /// in its own scan frame (angle 0, the same centre and size), so that its lines stay the fast axis.
    /// An image whose sides the grid cannot cut into tiles the model takes (`replay_side`) is replayed
    /// on its largest centred part that it can, on the image's own pixels, and the log says so. A
    /// training crop that does not fit the image's tiles (a non-square pixel grid) gives way to whole
    /// tiles.
    pub fn replay(config: &mut RunConfig, path: &Path, channel: Option<&str>) -> Result<(), crate::io::IoError> {
        let loaded = crate::io::load(path)?;
        loaded.channel(channel)?; // present and finite

        // A rotated scan is replayed in its own scan frame: its lines stay the fast axis.
        let whole = ScanRegion { angle_deg: 0.0, ..loaded.frame.region };
        let raster = loaded.frame.raster;
        let grid = config.select.grid;
        let (points, lines) = (replay_side(raster.points, grid), replay_side(raster.lines, grid));
        let rect = PixelRect { col: (raster.points - points) / 2, row: (raster.lines - lines) / 2, cols: points, rows: lines };
        let (r, cropped) = whole.sub_region(&raster, &rect);
        if cropped != raster {
            tracing::warn!(
                "{}: {}×{} px cannot be cut into {grid}×{grid} tiles of a multiple of 4 px (select.grid = {grid}): replaying its centred {}×{} px ({:.4} × {:.4} µm)",
                path.display(),
                raster.points,
                raster.lines,
                points,
                lines,
                r.width_m * 1e6,
                r.height_m * 1e6
            );
        }
        let f = &mut config.frame;
        f.center_x_m = r.center_x_m;
        f.center_y_m = r.center_y_m;
        f.scan_size_m = r.width_m;
        f.scan_height_m = Some(r.height_m);
        f.angle_deg = 0.0;
        f.hr_points = cropped.points;
        f.hr_lines = cropped.lines;
        config.simulator.surface_file = Some(path.to_path_buf());
        config.simulator.surface_channel = channel.map(str::to_string);
        let tile = config.tile_px();
        if let Some(c) = config.train.whole_tiles_if_crop_exceeds(tile.0.min(tile.1)) {
            tracing::info!(
                "{}: its tiles are {}×{} px, smaller than the {c} px training crop: training on whole tiles",
                path.display(),
                tile.0,
                tile.1
            );
        }
        Ok(())
    }

    /// The configuration as TOML text (what is written next to every output).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(&self.config).map_err(|e| ConfigError::Serialize { path: self.source.clone(), reason: e.to_string() })
    }

    /// Identity of the configuration: SHA-256 of its canonical JSON form, hex. Two configs with the
    /// same hash acquire the same plan; a resumed session must match it. How the bridge is reached
    /// (address, token source, timeouts) and the compute device are not part of the identity: a bridge
    /// may move, and a run may resume on another machine, between an interruption and its resumption.
    pub fn hash(&self) -> String {
        let mut identity = self.config.clone();
        identity.instrument.bridge = None;
        identity.run.device = crate::device::DeviceChoice::Auto;
        identity.run.threads = None;
        let json = serde_json::to_string(&identity).unwrap_or_default();
        let digest = Sha256::digest(json.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Whether `grid` cuts a side of `side_px` HR pixels into equal tiles whose sides are a multiple of
/// 4 px, the model's need.
pub fn grid_cuts(side_px: usize, grid: usize) -> bool {
    grid > 0 && side_px % grid == 0 && (side_px / grid) % 4 == 0
}

/// The pixels of a replayed image's side of `side_px` that a grid of `grid` tiles per side can use:
/// the largest side not above `side_px` that it cuts ([`grid_cuts`]). A side too short for even one
/// such tiling stays as it is, for `validate` to refuse with the field and value.
pub fn replay_side(side_px: usize, grid: usize) -> usize {
    (1..=side_px).rev().find(|&m| grid_cuts(m, grid)).unwrap_or(side_px)
}

#[cfg(test)]
mod tests;
