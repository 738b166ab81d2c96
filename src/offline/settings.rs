//! The sections of a run configuration that offline work uses — `[run]` (seed, device), `[lr]`
//! (`model_input`), `[select]`, `[train]`, `[reconstruct]`, `[level]`, `[register]` — read from any run config
//! (`configs/*.toml`). Sections about the instrument, frame and simulator are ignored; a section that
//! is present must be valid (unknown keys inside it are errors).

use super::OfflineError;
use crate::config::{LrSection, RunSection, SelectSection};
use crate::reconstruct::ReconstructConfig;
use crate::train::TrainConfig;
use serde::Deserialize;
use std::path::Path;

/// The sections of a run config that offline tools use; `None` where the file has no such section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ConfigSections {
    /// `[run]`.
    #[serde(default)]
    pub run: Option<RunSection>,
    /// `[lr]`.
    #[serde(default)]
    pub lr: Option<LrSection>,
    /// `[select]`.
    #[serde(default)]
    pub select: Option<SelectSection>,
    /// `[train]`.
    #[serde(default)]
    pub train: Option<TrainConfig>,
    /// `[reconstruct]`.
    #[serde(default)]
    pub reconstruct: Option<ReconstructConfig>,
    /// `[level]`.
    #[serde(default)]
    pub level: Option<crate::level::LevelConfig>,
    /// `[register]`.
    #[serde(default)]
    pub register: Option<crate::register::RegisterConfig>,
}

impl ConfigSections {
    /// `[register]` for an HR/LR `pair`: the section when given, else the defaults — except for an LR
    /// that is the HR's own decimation, whose patches lie exactly where they are cut: a search there
    /// finds only the LR's aliasing and the levelling's differences (a few tenths of an HR pixel, more
    /// on noisy channels) and would move the patches off their true place, so it is off.
    pub fn register_for(&self, pair: &super::ImagePair) -> crate::register::RegisterConfig {
        match &self.register {
            Some(r) => r.clone(),
            None if pair.lr_is_the_decimation() => crate::register::RegisterConfig { enabled: false, ..Default::default() },
            None => crate::register::RegisterConfig::default(),
        }
    }

    /// Reads the sections from a TOML run configuration.
    pub fn load(path: &Path) -> Result<Self, OfflineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| OfflineError::Config { path: path.to_path_buf(), why: format!("cannot read: {e}") })?;
        Self::parse(&text, path)
    }

    /// Parses TOML text; `source` names it in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Self, OfflineError> {
        let sections: Self = toml::from_str(text)
            .map_err(|e| OfflineError::Config { path: source.to_path_buf(), why: e.to_string().trim().replace('\n', " ") })?;
        if let Some(t) = &sections.train {
            t.validate().map_err(|e| OfflineError::Config { path: source.to_path_buf(), why: e.to_string() })?;
        }
        if let Some(r) = &sections.reconstruct {
            r.validate().map_err(|e| OfflineError::Config { path: source.to_path_buf(), why: e.to_string() })?;
        }
        Ok(sections)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_offline_sections_and_ignores_the_instrument() {
        let text = "[frame]\nscan_size_m = 1e-6\n[select]\nn_select = 7\ngrid = 4\n[train]\nbase = 8\n[instrument]\nsettle_s = 2.0\n";
        let s = ConfigSections::parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(s.select.as_ref().map(|s| (s.n_select, s.grid)), Some((7, 4)));
        assert_eq!(s.train.as_ref().map(|t| (t.base, t.k_t)), Some((8, 4)));
        assert!(s.reconstruct.is_none());
        let bad = ConfigSections::parse("[train]\nbsae = 8\n", Path::new("x.toml")).unwrap_err().to_string();
        assert!(bad.starts_with("x.toml: ") && bad.contains("bsae"), "{bad}");
        let range = ConfigSections::parse("[train]\nk_t = 0\n", Path::new("x.toml")).unwrap_err().to_string();
        assert!(range.contains("train.k_t = 0"), "{range}");
    }
}
