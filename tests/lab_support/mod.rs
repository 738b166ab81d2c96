//! Helpers for the tests of the files we write for the lab: the real data folder, the tool
//! virtualenv's Python with the independent readers (`gwyfile`, `igor2`), and Gwyddion's headless
//! `gwyddion-thumbnailer`. Each returns `None` with a "SKIPPED" message when the tool is missing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code; not every test uses every helper

use std::path::{Path, PathBuf};
use std::process::Command;

/// A file of `../shared/data`, or `None` (with a message) when absent.
pub fn data_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} not found (the shared test data folder is absent)", path.display());
        None
    }
}

/// A fresh scratch folder under the target's temporary directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The tool virtualenv's Python (`$AFM_SPARK_TOOLS`, else `~/.cache/afm-spark/tools-2.11.0`, as
/// `scripts/setup-tools.sh` installs it) when it imports `modules`; else `None` with a message.
pub fn python_with(modules: &str) -> Option<PathBuf> {
    let tools = std::env::var_os("AFM_SPARK_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/afm-spark/tools-2.11.0")));
    let candidates = tools.map(|t| t.join("bin/python")).into_iter().chain([PathBuf::from("python3")]);
    for python in candidates {
        let ok = Command::new(&python).arg("-c").arg(format!("import {modules}")).output().is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    eprintln!("SKIPPED: no Python with {modules} (run scripts/setup-tools.sh to install it into the tool virtualenv)");
    None
}

/// Runs `script` with `python` and `args`; panics with its stderr on failure; returns stdout.
pub fn run_python(python: &Path, script: &str, args: &[&Path]) -> String {
    let out = Command::new(python).arg("-c").arg(script).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `gwyddion-thumbnailer` when installed; else `None` with a message.
pub fn thumbnailer() -> Option<PathBuf> {
    let found = Command::new("gwyddion-thumbnailer").arg("--version").output().is_ok();
    if found {
        Some(PathBuf::from("gwyddion-thumbnailer"))
    } else {
        eprintln!("SKIPPED: gwyddion-thumbnailer not found (Debian package gwyddion; scripts/setup-tools.sh installs it)");
        None
    }
}

/// Renders `input` with Gwyddion's thumbnailer to `png` (256 px); returns the PNG's size in bytes
/// and its dimensions. Gwyddion must load the file for this to succeed.
pub fn render_with_gwyddion(thumbnailer: &Path, input: &Path, png: &Path) -> (u64, (u32, u32)) {
    let out = Command::new(thumbnailer)
        .args(["gnome2", "256"])
        .arg(input)
        .arg(png)
        .env("HOME", Path::new(env!("CARGO_TARGET_TMPDIR")))
        .output()
        .unwrap();
    assert!(out.status.success(), "gwyddion-thumbnailer failed on {}: {}", input.display(), String::from_utf8_lossy(&out.stderr));
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    let dims = image::image_dimensions(png).unwrap_or((0, 0));
    (size, dims)
}
