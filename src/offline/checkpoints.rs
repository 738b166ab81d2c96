//! Finding the checkpoints under a `--weights` folder: a checkpoint folder itself (holding
//! `model.safetensors`), or a training output root whose `n<N>/` folders hold one each (like the
//! original `Inference.py --weights runs/<timestamp>`).

use super::OfflineError;
use crate::model::{INFO_FILE, WEIGHTS_FILE};
use std::path::{Path, PathBuf};

/// One checkpoint folder and its name below the root ("" for the root itself, else "n4" …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointDir {
    /// "" when `--weights` is the checkpoint folder, else the subfolder's name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
}

fn is_checkpoint(dir: &Path) -> bool {
    dir.join(WEIGHTS_FILE).is_file() && dir.join(INFO_FILE).is_file()
}

/// The checkpoints under `weights`: itself, or its `n<N>/` subfolders in increasing N.
pub fn find_checkpoints(weights: &Path) -> Result<Vec<CheckpointDir>, OfflineError> {
    let fail = |why: &str| OfflineError::Checkpoint { path: weights.to_path_buf(), why: why.into() };
    if !weights.is_dir() {
        return Err(fail("no such folder"));
    }
    if is_checkpoint(weights) {
        return Ok(vec![CheckpointDir { name: String::new(), dir: weights.to_path_buf() }]);
    }
    let entries = std::fs::read_dir(weights).map_err(|e| fail(&e.to_string()))?;
    let mut found: Vec<(usize, CheckpointDir)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix('n')?.parse::<usize>().ok()?;
            is_checkpoint(&e.path()).then(|| (n, CheckpointDir { name, dir: e.path() }))
        })
        .collect();
    found.sort_by_key(|(n, _)| *n);
    if found.is_empty() {
        return Err(fail(&format!("no checkpoint here: neither {WEIGHTS_FILE} + {INFO_FILE} nor n<N>/ folders holding them")));
    }
    Ok(found.into_iter().map(|(_, c)| c).collect())
}
