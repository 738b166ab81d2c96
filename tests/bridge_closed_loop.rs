//! The closed loop over the MFP-3D bridge protocol against `afm-spark serve-sim`: over loopback TCP and
//! over a socat pty pair it gives the same picks and the same patches as the in-process simulator; a
//! bridge killed mid-frame gives Disconnected with every earlier patch journaled, and `--resume`
//! after the bridge restarts completes the run. Loopback only, every wait bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::io::session::{PatchRecord, Session};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token-4f1c";

const SIM: &str = r#"
[run]
name = "bridge"
seed = 3
[frame]
scan_size_m = 4e-6
hr_points = 128
hr_lines = 128
hr_line_rate_hz = 20.0
[select]
grid = 8
n_select = 6
[instrument]
settle_s = 0.2
move_speed_m_per_s = 50e-6
[instrument.policy]
timeout_factor = 2.0
timeout_margin_s = 20.0
retries = 1
retry_on = ["disconnected"]
retry_delay_s = 0.2
[simulator.surface]
kind = "grains"
size_m = 4e-6
pixels = 256
[simulator.physics.drift]
enabled = false
"#;

/// Kills the child process when dropped, so a failing test never leaves a server behind.
struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_afm-spark")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("afm-bridge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts serve-sim and waits (≤ 20 s) for its first stdout line.
fn serve(config: &Path, extra: &[&str]) -> (Killed, String) {
    let mut child = Command::new(exe())
        .args(["-q", "serve-sim", "--heartbeat-s", "0.2", "--config"])
        .arg(config)
        .args(extra)
        .env("AFM_SPARK_BRIDGE_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("serve-sim printed nothing");
    (Killed(child), line.trim().to_string())
}

fn run_acquire(config: &Path, out: &Path) -> std::process::Output {
    Command::new(exe())
        .args(["-q", "run", "--acquire-only", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .env("AFM_SPARK_BRIDGE_TOKEN", TOKEN)
        .output()
        .unwrap()
}

fn client_config(dir: &Path, bridge: &str) -> PathBuf {
    let text = SIM.replace("[instrument]\n", "[instrument]\nbackend = \"mfp3d\"\n")
        + &format!("[instrument.bridge]\n{bridge}\nrequest_timeout_s = 5.0\n");
    let path = dir.join("client.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn reference(dir: &Path) -> (Vec<usize>, Vec<PatchRecord>) {
    let cfg = dir.join("sim.toml");
    std::fs::write(&cfg, SIM).unwrap();
    let out = dir.join("in-process");
    assert!(run_acquire(&cfg, &out).status.success());
    let s = Session::open(&out.join("session.h5")).unwrap();
    (s.selection().unwrap().unwrap().picks, s.patches().unwrap())
}

fn assert_same_acquisition(out: &Path, want: &(Vec<usize>, Vec<PatchRecord>)) {
    let s = Session::open(&out.join("session.h5")).unwrap();
    assert_eq!(s.selection().unwrap().unwrap().picks, want.0, "picks over the bridge differ");
    let got = s.patches().unwrap();
    assert_eq!(got.len(), want.1.len());
    for (a, b) in got.iter().zip(&want.1) {
        assert_eq!(a.frame.region, b.frame.region);
        let bits = |p: &PatchRecord| p.frame.channels[0].data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b), "patch {} over the bridge differs from the in-process simulator", a.pick_order);
    }
}

#[test]
fn closed_loop_over_tcp_matches_the_in_process_simulator() {
    let dir = temp("tcp");
    let want = reference(&dir);
    let (_server, line) = serve(&dir.join("sim.toml"), &["--bind", "127.0.0.1:0"]);
    let addr = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let cfg = client_config(&dir, &format!("tcp = \"{addr}\""));
    let out = dir.join("over-tcp");
    let res = run_acquire(&cfg, &out);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_same_acquisition(&out, &want);

    // The wrong token is refused and nothing is scanned.
    let bad = Command::new(exe())
        .args(["-q", "run", "--acquire-only", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.join("bad-token"))
        .env("AFM_SPARK_BRIDGE_TOKEN", "wrong")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unauthorized"), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(Session::open(&dir.join("bad-token/session.h5")).unwrap().lr().unwrap().is_none());
}

#[test]
fn closed_loop_over_a_socat_serial_line_matches_the_in_process_simulator() {
    if Command::new("socat").arg("-V").output().is_err() {
        eprintln!("SKIPPED: socat is not installed");
        return;
    }
    let dir = temp("serial");
    let want = reference(&dir);
    let (a, b) = (dir.join("pty-a"), dir.join("pty-b"));
    let socat = Killed(
        Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(a.exists() && b.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_server, line) = serve(&dir.join("sim.toml"), &["--serial", a.to_str().unwrap()]);
    assert!(line.starts_with("serving on serial"), "{line}");
    let cfg = client_config(&dir, &format!("serial = \"{}\"\nbaud_rate = 115200", b.display()));
    let out = dir.join("over-serial");
    let res = run_acquire(&cfg, &out);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_same_acquisition(&out, &want);
    drop(socat);
}

#[test]
fn bridge_killed_mid_run_then_resume_after_restart_completes() {
    let dir = temp("kill");
    let slow =
        SIM.replace("[simulator.surface]", "[simulator]\nrealtime = true\n[simulator.surface]").replace("settle_s = 0.2", "settle_s = 0.4");
    let sim_cfg = dir.join("sim-slow.toml");
    std::fs::write(&sim_cfg, &slow).unwrap();
    // A fixed loopback port, so the restarted bridge is where the client config says.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let (server, _) = serve(&sim_cfg, &["--bind", &addr]);
    let text = slow.replace("[instrument]\n", "[instrument]\nbackend = \"mfp3d\"\n")
        + &format!("[instrument.bridge]\ntcp = \"{addr}\"\nrequest_timeout_s = 5.0\n");
    let cfg = dir.join("client.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = dir.join("run");
    let session_path = out.join("session.h5");
    let client = Command::new(exe())
        .args(["-q", "run", "--acquire-only", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .env("AFM_SPARK_BRIDGE_TOKEN", TOKEN)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut journaled = 0;
    while Instant::now() < deadline {
        journaled = Session::open(&session_path).and_then(|s| s.patches()).map(|p| p.len()).unwrap_or(0);
        if journaled >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(journaled >= 2, "never journaled 2 patches");
    drop(server); // SIGKILL the bridge mid-run
    let res = client.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success(), "the run must fail when its bridge dies");
    assert!(err.contains("disconnected") || err.contains("Disconnected"), "{err}");
    assert!(err.contains("patch"), "the error names the patch: {err}");
    let before = Session::open(&session_path).unwrap().patches().unwrap();
    assert!(before.len() >= 2 && before.len() < 6);

    let (_server2, _) = serve(&sim_cfg, &["--bind", &addr]);
    let res = Command::new(exe())
        .args(["-q", "run", "--acquire-only", "--resume"])
        .arg(&session_path)
        .env("AFM_SPARK_BRIDGE_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let after = Session::open(&session_path).unwrap().patches().unwrap();
    assert_eq!(after.len(), 6);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a, b, "patch {} changed on resume", a.pick_order);
    }
}
