//! What machine an evaluation ran on: logical cores (`std::thread::available_parallelism`), the CPU
//! model where the OS tells it, OS and architecture, the afm-spark version, and the date (UTC).

use serde::{Deserialize, Serialize};

/// The machine and moment of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    /// Logical cores available to this process.
    pub logical_cores: usize,
    /// CPU model name (Linux `/proc/cpuinfo`), if known.
    pub cpu_model: Option<String>,
    /// libtorch's intra-op threads (`OMP_NUM_THREADS` sets them; default: the cores).
    pub torch_threads: i32,
    /// Operating system and architecture, e.g. "linux x86_64".
    pub os_arch: String,
    /// afm-spark version.
    pub version: String,
    /// When the evaluation started, UTC, "YYYY-MM-DD HH:MM".
    pub started_utc: String,
}

impl MachineInfo {
    /// Describes this machine, now.
    pub fn current() -> Self {
        let now = time::OffsetDateTime::now_utc();
        Self {
            logical_cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            cpu_model: cpu_model(),
            torch_threads: tch::get_num_threads(),
            os_arch: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            version: env!("CARGO_PKG_VERSION").into(),
            started_utc: format!("{:04}-{:02}-{:02} {:02}:{:02}", now.year(), u8::from(now.month()), now.day(), now.hour(), now.minute()),
        }
    }

    /// One line: "2 logical cores (Intel …), 2 libtorch threads, linux x86_64, afm-spark 0.1.0".
    pub fn describe(&self) -> String {
        let cpu = self.cpu_model.as_ref().map(|m| format!(" ({m})")).unwrap_or_default();
        format!(
            "{} logical cores{cpu}, {} libtorch thread(s), {}, afm-spark {}",
            self.logical_cores, self.torch_threads, self.os_arch, self.version
        )
    }
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn describes_this_machine() {
        let m = MachineInfo::current();
        assert!(m.logical_cores >= 1);
        assert_eq!(m.started_utc.len(), 16, "{}", m.started_utc);
        assert!(m.describe().contains("logical cores"));
    }
}
