//! One evaluation at a time in an evaluation folder: `eval.lock` names the process working in it.

use super::EvalError;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The lock file inside an evaluation folder; it holds the working process's id.
pub const LOCK_FILE: &str = "eval.lock";

/// Held while an evaluation works in its folder; the lock file goes when it is dropped.
#[derive(Debug)]
pub struct FolderLock {
    path: PathBuf,
}

impl FolderLock {
    /// Takes `dir/eval.lock` (`dir` must exist), writing this process's id into it. Refused while a
    /// running process holds it: two evaluations in one folder would write the same run sessions. A
    /// lock whose process no longer runs (killed, crashed) is taken over. Whether a process runs is
    /// read from `/proc`; where there is none, every lock is taken over.
    pub fn acquire(dir: &Path) -> Result<Self, EvalError> {
        let path = dir.join(LOCK_FILE);
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id()).map_err(|e| EvalError::io(&path, e))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match text.trim().parse::<u32>() {
                        Ok(pid) if !process_runs(pid) => {
                            tracing::warn!("{}: left by process {pid}, which no longer runs: taking it over", path.display());
                            std::fs::remove_file(&path).map_err(|e| EvalError::io(&path, e))?;
                        }
                        held => {
                            let holder = held.map(|p| format!("process {p}")).unwrap_or_else(|_| format!("{:?}", text.trim()));
                            return Err(EvalError::Busy { dir: dir.to_path_buf(), lock: path, holder });
                        }
                    }
                }
                Err(e) => return Err(EvalError::io(&path, e)),
            }
        }
        Err(EvalError::io(&path, "another evaluation took it over at the same moment"))
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
    fn a_second_evaluation_is_refused_and_a_dead_holders_lock_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("afm-spark-eval-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let held = FolderLock::acquire(&dir).unwrap();
        let me = std::process::id().to_string();
        assert_eq!(std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap().trim(), me);
        let err = FolderLock::acquire(&dir).unwrap_err().to_string();
        assert!(err.contains(&format!("process {me}")) && err.contains("eval.lock"), "{err}");
        drop(held);
        assert!(!dir.join(LOCK_FILE).exists(), "the lock goes with its holder");
        // a lock left by a process that no longer runs (no pid is this large) is taken over
        std::fs::write(dir.join(LOCK_FILE), "4294967295\n").unwrap();
        let taken = FolderLock::acquire(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap().trim(), me);
        drop(taken);
        // a lock that names no process is not guessed at
        std::fs::write(dir.join(LOCK_FILE), "garbage").unwrap();
        assert!(FolderLock::acquire(&dir).unwrap_err().to_string().contains("garbage"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
