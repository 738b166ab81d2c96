//! The `[instrument.bridge]` section of a run config as it appears in TOML (`deny_unknown_fields`),
//! resolved into an [`XopClientConfig`] and a [`BridgeToken`]. The token itself never sits in the config
//! file: it is read from an environment variable or a file named there.
//!
//! ```toml
//! [instrument.bridge]
//! transport = "zeromq-xop"
//! address = "tcp://127.0.0.1:5670"        # Igor's zeromq_server_bind (through an SSH tunnel if remote)
//! token_env = "AFM_SPARK_BRIDGE_TOKEN"    # or: token_file = "/path/to/token"
//! call_timeout_s = 3.0
//! ```

use super::client::XopClientConfig;
use super::fake::parse_tcp_endpoint;
use super::token::{BridgeToken, DEFAULT_TOKEN_ENV};
use crate::error::InstrumentError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How frames reach afm-spark. Only ZeroMQ-XOP: a serial line (115 200 baud ≈ 11.5 kB/s) cannot carry
/// frames in time (see `PROTOCOL.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Transport {
    /// ZeroMQ-XOP inside Igor Pro (or `afm-spark serve-sim`).
    #[default]
    #[serde(rename = "zeromq-xop")]
    ZeromqXop,
}

/// How to reach the instrument, as written in a config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeSettings {
    /// The transport (only `zeromq-xop`).
    pub transport: Transport,
    /// The XOP's ROUTER address, `tcp://host:port`.
    pub address: String,
    /// PUB address to subscribe to (default: what `Spark_Hello` reports; set it when tunnelling).
    pub pub_address: Option<String>,
    /// Take finished layers from PUB when the Igor side publishes them.
    pub use_pub: bool,
    /// Environment variable holding the token.
    pub token_env: String,
    /// File whose first line is the token (takes precedence over `token_env`).
    pub token_file: Option<PathBuf>,
    /// Deadline of every quick call, seconds.
    pub call_timeout_s: f64,
    /// Deadline of fetching one channel, seconds.
    pub fetch_timeout_s: f64,
    /// Consecutive timeouts after which the socket is rebuilt.
    pub rebuild_after_timeouts: u32,
    /// Interval of pings while a frame runs, seconds (Igor's watchdog stops a frame after 5 s without).
    pub ping_interval_s: f64,
    /// Interval of status polls while a frame runs, seconds.
    pub status_interval_s: f64,
    /// Wait for a published layer after the frame is saved before fetching it, seconds.
    pub pub_wait_s: f64,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        Self {
            transport: Transport::ZeromqXop,
            address: "tcp://127.0.0.1:5670".into(),
            pub_address: None,
            use_pub: true,
            token_env: DEFAULT_TOKEN_ENV.to_string(),
            token_file: None,
            call_timeout_s: 3.0,
            fetch_timeout_s: 60.0,
            rebuild_after_timeouts: 2,
            ping_interval_s: 1.0,
            status_interval_s: 0.5,
            pub_wait_s: 2.0,
        }
    }
}

impl BridgeSettings {
    /// The client configuration these settings describe; errors name the field and value.
    pub fn client_config(&self) -> Result<XopClientConfig, InstrumentError> {
        parse_tcp_endpoint(&self.address).map_err(|e| InstrumentError::out_of_range("bridge.address", &self.address, e.to_string()))?;
        if let Some(p) = &self.pub_address {
            parse_tcp_endpoint(p).map_err(|e| InstrumentError::out_of_range("bridge.pub_address", p, e.to_string()))?;
        }
        let seconds = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(InstrumentError::out_of_range(format!("bridge.{name}"), v.to_string(), "> 0 s"))
            }
        };
        let ping = seconds("ping_interval_s", self.ping_interval_s)?;
        if ping >= Duration::from_secs(4) {
            return Err(InstrumentError::out_of_range(
                "bridge.ping_interval_s",
                self.ping_interval_s.to_string(),
                "< 4 s (Igor's watchdog stops a frame after 5 s without a ping)",
            ));
        }
        if self.rebuild_after_timeouts == 0 {
            return Err(InstrumentError::out_of_range("bridge.rebuild_after_timeouts", "0", "≥ 1"));
        }
        let mut c = XopClientConfig::new(self.address.clone());
        c.pub_address = self.pub_address.clone();
        c.use_pub = self.use_pub;
        c.call_timeout = seconds("call_timeout_s", self.call_timeout_s)?;
        c.fetch_timeout = seconds("fetch_timeout_s", self.fetch_timeout_s)?;
        c.rebuild_after_timeouts = self.rebuild_after_timeouts;
        c.ping_interval = ping;
        c.status_interval = seconds("status_interval_s", self.status_interval_s)?;
        c.pub_wait = seconds("pub_wait_s", self.pub_wait_s)?;
        Ok(c)
    }

    /// The token, from `token_file` if set, else from the `token_env` variable.
    pub fn token(&self) -> Result<BridgeToken, InstrumentError> {
        match &self.token_file {
            Some(path) => BridgeToken::from_file(path),
            None => BridgeToken::from_env(&self.token_env),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn settings_resolve_and_name_bad_fields() {
        let s = BridgeSettings::default();
        let c = s.client_config().unwrap();
        assert_eq!(c.address, "tcp://127.0.0.1:5670");
        assert_eq!(c.call_timeout, Duration::from_secs(3));
        let bad = BridgeSettings { address: "127.0.0.1:5670".into(), ..Default::default() };
        assert!(bad.client_config().unwrap_err().to_string().contains("bridge.address"));
        let slow = BridgeSettings { ping_interval_s: 5.0, ..Default::default() };
        assert!(slow.client_config().unwrap_err().to_string().contains("ping_interval_s"));
        let missing = BridgeSettings { token_env: "AFM_SPARK_TEST_TOKEN_THAT_IS_NOT_SET".into(), ..s };
        let err = missing.token().unwrap_err().to_string();
        assert!(err.contains("AFM_SPARK_TEST_TOKEN_THAT_IS_NOT_SET"), "{err}");
        let old: Result<BridgeSettings, _> = toml::from_str("tcp = \"127.0.0.1:7341\"");
        assert!(old.unwrap_err().to_string().contains("tcp"));
    }
}
