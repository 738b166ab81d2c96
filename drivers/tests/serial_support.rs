//! A pty pair made by `socat` for serial tests (included with `#[path]`): the two device paths are
//! parsed from socat's stderr; socat is killed when the pair is dropped. Tests skip cleanly, with a
//! message, where socat is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Two connected pseudo-terminals.
pub struct PtyPair {
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    child: Child,
}

impl PtyPair {
    /// Starts `socat -d -d pty,raw,echo=0 pty,raw,echo=0`; `None` (after printing why) if socat is missing.
    pub async fn start() -> Option<Self> {
        let spawned = Command::new("socat")
            .args(["-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                eprintln!("SKIPPED: socat is not available ({e}); install it with `apt-get install socat`");
                return None;
            }
        };
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut paths = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(5), async {
            while paths.len() < 2 {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        // "... N PTY is /dev/pts/7"
                        if let Some(i) = line.find("PTY is ") {
                            paths.push(line[i + 7..].trim().to_string());
                        }
                    }
                    _ => break,
                }
            }
        })
        .await;
        assert!(found.is_ok() && paths.len() == 2, "socat did not report two ptys: {paths:?}");
        // Keep draining socat's stderr so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(Self { a: paths[0].clone(), b: paths[1].clone(), child })
    }

    /// Kills socat now (both ends go away).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
