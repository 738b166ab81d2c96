//! The closed loop (acquisition only) of `afm-spark run` through the fake ZeroMQ-XOP
//! (`afm-spark serve-sim --transport zeromq-xop`) over real loopback sockets: the same picks and
//! bit-identical patches as the in-process simulator; a wrong token scans nothing; `kill -9` of the
//! client mid-frame makes the fake's watchdog stop the frame within 6 s, and `--resume` completes;
//! Ctrl-C mid-frame reaches the fake as an abort, keeps every earlier patch and `--resume` completes; a
//! returned region shifted by 0.5 px is journaled as returned and logged. Loopback only, every wait
//! bounded; no training.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::io::session::{PatchRecord, Session};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "xop-closed-loop-token";

const SIM: &str = r#"
[run]
name = "xop"
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
retry_on = ["disconnected", "busy"]
retry_delay_s = 1.0
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
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("afm-xop-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running fake: its ROUTER address and every stderr line it has logged so far.
struct Fake {
    _child: Killed,
    address: String,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Fake {
    fn start(config: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(exe())
            .args(["serve-sim", "--transport", "zeromq-xop", "--bind", "tcp://127.0.0.1:0", "--config"])
            .arg(config)
            .args(extra)
            .env("AFM_SPARK_BRIDGE_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("serve-sim printed nothing");
        let address = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let address = address.split_whitespace().next().unwrap().to_string();
        assert!(address.starts_with("tcp://127.0.0.1:"), "{address}");
        Self { _child: Killed(child), address, log }
    }

    /// The first logged line containing `needle` (waiting up to `within`), with when it was read.
    fn wait_for(&self, needle: &str, within: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(hit) = self.log.lock().unwrap().iter().find(|(_, l)| l.contains(needle)).cloned() {
                return Some(hit);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n")
    }
}

fn client_config(dir: &Path, base: &str, address: &str) -> PathBuf {
    let text = base.replace("[instrument]\n", "[instrument]\nbackend = \"mfp3d\"\n")
        + &format!("[instrument.bridge]\ntransport = \"zeromq-xop\"\naddress = \"{address}\"\ncall_timeout_s = 3.0\n");
    let path = dir.join("client.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run_cmd(args: &[&str], config_or_session: &Path, out: Option<&Path>, token: &str) -> Command {
    let mut c = Command::new(exe());
    c.arg("-q").arg("run").arg("--acquire-only").args(args).arg(config_or_session);
    if let Some(out) = out {
        c.arg("--out").arg(out);
    }
    c.env("AFM_SPARK_BRIDGE_TOKEN", token);
    c
}

fn patches(session: &Path) -> usize {
    Session::open(session).and_then(|s| s.patches()).map(|p| p.len()).unwrap_or(0)
}

fn wait_for_patches(session: &Path, k: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut n = 0;
    while Instant::now() < deadline {
        n = patches(session);
        if n >= k {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    n
}

/// Waits (≤ 30 s) until the fake has started a frame the journal does not hold yet.
fn wait_mid_frame(fake: &Fake, session: &Path) {
    let started = || fake.log.lock().unwrap().iter().filter(|(_, l)| l.contains("Spark_StartFrame")).count();
    let deadline = Instant::now() + Duration::from_secs(30);
    while started() < 2 + patches(session) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `--resume` completes the run to `n` patches and leaves the ones journaled `before` untouched.
fn resume_completes(session: &Path, before: &[PatchRecord], n: usize) {
    let res = run_cmd(&["--resume"], session, None, TOKEN).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let after = Session::open(session).unwrap().patches().unwrap();
    assert_eq!(after.len(), n);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a, b, "patch {} changed on resume", a.pick_order);
    }
}

fn bits(p: &PatchRecord) -> Vec<u32> {
    p.frame.channels[0].data.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn closed_loop_through_the_fake_xop_matches_the_in_process_simulator() {
    let dir = temp("loop");
    let sim = dir.join("sim.toml");
    std::fs::write(&sim, SIM).unwrap();
    let reference = dir.join("in-process");
    assert!(run_cmd(&["--config"], &sim, Some(&reference), TOKEN).status().unwrap().success());
    let want = Session::open(&reference.join("session.h5")).unwrap();

    let fake = Fake::start(&sim, &["--pub-bind", "tcp://127.0.0.1:0"]);
    let cfg = client_config(&dir, SIM, &fake.address);
    let out = dir.join("over-xop");
    let res = run_cmd(&["--config"], &cfg, Some(&out), TOKEN).output().unwrap();
    assert!(res.status.success(), "{}\n--- fake ---\n{}", String::from_utf8_lossy(&res.stderr), fake.log_text());
    let got = Session::open(&out.join("session.h5")).unwrap();
    assert_eq!(got.selection().unwrap().unwrap().picks, want.selection().unwrap().unwrap().picks, "picks differ");
    assert_eq!(got.lr().unwrap().unwrap().region, want.lr().unwrap().unwrap().region);
    let (a, b) = (got.patches().unwrap(), want.patches().unwrap());
    assert_eq!(a.len(), 6);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.frame.region, y.frame.region, "patch {} region", x.pick_order);
        assert_eq!(bits(x), bits(y), "patch {} through the fake differs from the in-process simulator", x.pick_order);
    }

    // The wrong token is refused and nothing is scanned.
    let bad = run_cmd(&["--config"], &cfg, Some(&dir.join("bad-token")), "wrong-token").output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("unauthorized"), "{err}");
    assert!(Session::open(&dir.join("bad-token/session.h5")).unwrap().lr().unwrap().is_none());
    assert!(fake.wait_for("Spark_Hello refused", Duration::from_secs(2)).is_some());
}

/// A real-time simulator with frames of ~8 s (longer than the 5-s watchdog), 3 picks.
fn slow_config() -> String {
    SIM.replace("[simulator.surface]", "[simulator]\nrealtime = true\n[simulator.surface]")
        .replace("hr_line_rate_hz = 20.0", "hr_line_rate_hz = 0.25\n[lr]\nrate_factor = 16.0")
        .replace("n_select = 6", "n_select = 3")
        .replace("timeout_margin_s = 20.0", "timeout_margin_s = 60.0")
}

/// A fake and a slow `run --acquire-only` against it, returned once a patch is journaled and the next
/// frame has started (the fake has started one more frame than the journal holds).
fn slow_run_mid_frame(name: &str, stderr: Stdio) -> (Fake, PathBuf, Child) {
    let dir = temp(name);
    let sim = dir.join("sim.toml");
    std::fs::write(&sim, slow_config()).unwrap();
    let fake = Fake::start(&sim, &[]);
    let cfg = client_config(&dir, &slow_config(), &fake.address);
    let out = dir.join("run");
    let session = out.join("session.h5");
    let client = run_cmd(&["--config"], &cfg, Some(&out), TOKEN).stdout(Stdio::null()).stderr(stderr).spawn().unwrap();
    assert!(wait_for_patches(&session, 1, Duration::from_secs(90)) >= 1, "never journaled a patch");
    wait_mid_frame(&fake, &session);
    (fake, session, client)
}

#[test]
fn kill_9_of_the_client_mid_frame_is_stopped_by_the_watchdog_and_resume_completes() {
    let (fake, session, mut client) = slow_run_mid_frame("kill", Stdio::null());
    client.kill().unwrap(); // SIGKILL
    let killed_at = Instant::now();
    client.wait().unwrap();
    let before = Session::open(&session).unwrap().patches().unwrap();
    assert!(!before.is_empty() && before.len() < 3, "{} patches", before.len());
    let (at, line) = fake.wait_for("watchdog", Duration::from_secs(10)).unwrap_or_else(|| panic!("no watchdog line:\n{}", fake.log_text()));
    let after_s = at.saturating_duration_since(killed_at).as_secs_f64();
    println!("watchdog stopped the orphaned frame {after_s:.2} s after kill -9: {line}");
    assert!(after_s <= 6.0, "watchdog after {after_s:.2} s (must be ≤ 6 s)");

    resume_completes(&session, &before, 3);
}

#[test]
fn ctrl_c_mid_frame_aborts_the_fake_keeps_the_journal_and_resume_completes() {
    let (fake, session, client) = slow_run_mid_frame("sigint", Stdio::piped());
    let journaled = patches(&session);
    let status = Command::new("kill").args(["-INT", &client.id().to_string()]).status().unwrap();
    assert!(status.success());
    let res = client.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success(), "an interrupted run must exit non-zero");
    assert!(err.contains("--resume"), "the message says how to resume: {err}");
    assert!(
        fake.wait_for("Spark_Abort", Duration::from_secs(5)).is_some(),
        "the abort never reached the fake:\n{}\n--- client ---\n{err}",
        fake.log_text()
    );
    let before = Session::open(&session).unwrap().patches().unwrap();
    assert!(before.len() >= journaled.max(1) && before.len() < 3, "{} patches journaled", before.len());
    assert!(fake.wait_for("watchdog", Duration::from_millis(10)).is_none(), "the abort, not the watchdog, stopped the frame");

    resume_completes(&session, &before, 3);
}

#[test]
fn a_returned_region_half_a_pixel_off_is_journaled_as_returned_and_logged() {
    let dir = temp("shift");
    let sim = dir.join("sim.toml");
    std::fs::write(&sim, SIM).unwrap();
    let fake = Fake::start(&sim, &["--fault", "region-offset-px=0.5"]);
    let cfg = client_config(&dir, SIM, &fake.address);
    let out = dir.join("run");
    let res = run_cmd(&["--config"], &cfg, Some(&out), TOKEN).output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(err.contains("differs from the request by 0.50 px"), "{err}");
    let s = Session::open(&out.join("session.h5")).unwrap();
    let lr = s.lr().unwrap().unwrap();
    let (px, _) = lr.region.pitch_m(&lr.raster);
    assert!((lr.region.center_x_m - 0.5 * px).abs() < 1e-9 * px, "LR recorded at {} m, pitch {px} m", lr.region.center_x_m);
    let hr = afm_drivers::ScanRegion::square(0.0, 0.0, 4e-6);
    let patches = s.patches().unwrap();
    assert_eq!(patches.len(), 6);
    for p in patches {
        let (requested, raster) = hr.sub_region(&afm_drivers::Raster::square(128), &p.rect);
        let (ppx, _) = requested.pitch_m(&raster);
        let shift_px = (p.frame.region.center_x_m - requested.center_x_m) / ppx;
        assert!((shift_px - 0.5).abs() < 1e-6, "patch {} journaled {shift_px} px from the request", p.pick_order);
        assert!((p.frame.region.center_y_m - requested.center_y_m).abs() < 1e-6 * ppx, "patch {} y", p.pick_order);
    }
}
