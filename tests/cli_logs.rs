//! Log lines carry no ANSI colour codes unless stderr is a terminal, and none with `NO_COLOR` set:
//! `afm-spark -v inspect` (which logs a debug line) with stderr to a pipe and to a file, and — as the
//! control that colour is really switched, not just absent — under a pseudo-terminal (util-linux
//! `script`) with and without `NO_COLOR`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ESC: &str = "\x1b[";

fn npy_file() -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_logs_image.npy");
    afm_spark::io::npy::write_array(&path, &ndarray::Array2::<f32>::ones((4, 4))).unwrap();
    path
}

fn inspect(path: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_afm-spark"));
    cmd.args(["-v", "inspect"]).arg(path).env_remove("NO_COLOR").env_remove("RUST_LOG");
    cmd
}

#[test]
fn logs_to_a_pipe_or_a_file_are_plain_text() {
    let path = npy_file();
    let out = inspect(&path).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEBUG") && stderr.contains("read as NumPy array"), "no debug line in {stderr:?}");
    assert!(!stderr.contains(ESC), "ANSI escapes in piped stderr: {stderr:?}");

    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_logs_stderr.log");
    let status = inspect(&path).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).status().unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("read as NumPy array") && !text.contains(ESC), "{text:?}");
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: util-linux `script` not found (needed to run afm-spark under a pseudo-terminal)");
        return;
    }
    let path = npy_file();
    let line = format!("{} -v inspect {}", env!("CARGO_BIN_EXE_afm-spark"), path.display());
    let under_pty = |no_color: Option<&str>| {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]).env_remove("RUST_LOG").env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = under_pty(None);
    assert!(coloured.contains("read as NumPy array") && coloured.contains(ESC), "no colour on a terminal: {coloured:?}");
    let plain = under_pty(Some("1"));
    assert!(plain.contains("read as NumPy array") && !plain.contains(ESC), "colour despite NO_COLOR: {plain:?}");
}
