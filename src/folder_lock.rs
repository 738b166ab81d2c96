//! One process at a time in a folder: a lock file there names the process working in it.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The lock file an evaluation holds in its folder.
pub const EVAL_LOCK_FILE: &str = "eval.lock";

/// The lock file a closed-loop run holds in its run folder (new run or resumption).
pub const RUN_LOCK_FILE: &str = "run.lock";

/// Why a folder could not be locked.
#[derive(Debug, Error)]
pub enum FolderLockError {
    /// Another process is working in the folder.
    #[error("{dir} is in use by another {work} ({holder}, in {lock}); wait for it, or delete that file if no afm-spark works there")]
    Busy {
        /// The folder.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
        /// Who holds it: "process N", or the lock file's text.
        holder: String,
        /// The work the folder is locked for, e.g. "evaluation".
        work: &'static str,
    },
    /// The lock file could not be written or removed.
    #[error("{path}: {reason}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Held while a process works in its folder; the lock file goes when it is dropped.
#[derive(Debug)]
pub struct FolderLock {
    path: PathBuf,
}

impl FolderLock {
    /// Takes `dir/file_name` (`dir` must exist), writing this process's id into it. Refused while a
    /// running process holds it, naming `work` (what two processes would do to each other's files). A
    /// lock whose process no longer runs (killed, crashed) is taken over. Whether a process runs is
    /// read from `/proc`; where there is none, every lock is taken over.
    pub fn acquire(dir: &Path, file_name: &str, work: &'static str) -> Result<Self, FolderLockError> {
        let path = dir.join(file_name);
        let io = |reason: String| FolderLockError::Io { path: path.clone(), reason };
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id()).map_err(|e| io(e.to_string()))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match text.trim().parse::<u32>() {
                        Ok(pid) if !process_runs(pid) => {
                            tracing::warn!("{}: left by process {pid}, which no longer runs: taking it over", path.display());
                            std::fs::remove_file(&path).map_err(|e| io(e.to_string()))?;
                        }
                        held => {
                            let holder = held.map(|p| format!("process {p}")).unwrap_or_else(|_| format!("{:?}", text.trim()));
                            return Err(FolderLockError::Busy { dir: dir.to_path_buf(), lock: path, holder, work });
                        }
                    }
                }
                Err(e) => return Err(io(e.to_string())),
            }
        }
        Err(io(format!("another {work} took it over at the same moment")))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` runs: `/proc/<pid>` exists (Linux). Without `/proc`, false.
fn process_runs(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_process_is_refused_and_a_dead_holders_lock_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("afm-spark-folder-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let held = FolderLock::acquire(&dir, EVAL_LOCK_FILE, "evaluation").unwrap();
        let me = std::process::id().to_string();
        assert_eq!(std::fs::read_to_string(dir.join(EVAL_LOCK_FILE)).unwrap().trim(), me);
        let err = FolderLock::acquire(&dir, EVAL_LOCK_FILE, "evaluation").unwrap_err().to_string();
        assert!(err.contains(&format!("another evaluation (process {me}")) && err.contains("eval.lock"), "{err}");
        // another lock file in the same folder is another lock
        let run = FolderLock::acquire(&dir, RUN_LOCK_FILE, "run").unwrap();
        assert_eq!(run.path(), dir.join(RUN_LOCK_FILE));
        drop(held);
        assert!(!dir.join(EVAL_LOCK_FILE).exists(), "the lock goes with its holder");
        assert!(dir.join(RUN_LOCK_FILE).exists(), "and only that one");
        drop(run);
        // a lock left by a process that no longer runs (no pid is this large) is taken over
        std::fs::write(dir.join(EVAL_LOCK_FILE), "4294967295\n").unwrap();
        let taken = FolderLock::acquire(&dir, EVAL_LOCK_FILE, "evaluation").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(EVAL_LOCK_FILE)).unwrap().trim(), me);
        drop(taken);
        // a lock that names no process is not guessed at
        std::fs::write(dir.join(EVAL_LOCK_FILE), "garbage").unwrap();
        assert!(FolderLock::acquire(&dir, EVAL_LOCK_FILE, "evaluation").unwrap_err().to_string().contains("garbage"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
