//! The `[bridge]` section of a run config as it appears in TOML (`deny_unknown_fields`), resolved
//! into a [`ClientConfig`] and a [`BridgeToken`]. The token itself never sits in the config file: it is
//! read from an environment variable or a file named there.
//!
//! ```toml
//! [bridge]
//! tcp = "127.0.0.1:7341"              # or: serial = "/dev/ttyUSB0" (with baud_rate)
//! token_env = "AFM_SPARK_BRIDGE_TOKEN" # or: token_file = "/path/to/token"
//! request_timeout_s = 10.0
//! heartbeat_misses = 3
//! ```

use super::client::ClientConfig;
use super::protocol::DEFAULT_MAX_REPLY_LINE_BYTES;
use super::token::{BridgeToken, DEFAULT_TOKEN_ENV};
use super::transport::Endpoint;
use crate::error::InstrumentError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the bridge, as written in a config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeSettings {
    /// TCP address `host:port` of the bridge.
    pub tcp: Option<String>,
    /// Serial device of the bridge (instead of `tcp`).
    pub serial: Option<String>,
    /// Serial line speed, baud.
    pub baud_rate: u32,
    /// Environment variable holding the token.
    pub token_env: String,
    /// File whose first line is the token (takes precedence over `token_env`).
    pub token_file: Option<PathBuf>,
    /// Longest wait for connecting and for quick replies, seconds.
    pub request_timeout_s: f64,
    /// Missed heartbeats before a scan times out.
    pub heartbeat_misses: u32,
    /// Longest reply line, bytes.
    pub max_reply_line_bytes: usize,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        Self {
            tcp: None,
            serial: None,
            baud_rate: 115_200,
            token_env: DEFAULT_TOKEN_ENV.to_string(),
            token_file: None,
            request_timeout_s: 10.0,
            heartbeat_misses: 3,
            max_reply_line_bytes: DEFAULT_MAX_REPLY_LINE_BYTES,
        }
    }
}

impl BridgeSettings {
    /// The client configuration these settings describe (exactly one of `tcp`/`serial`).
    pub fn client_config(&self) -> Result<ClientConfig, InstrumentError> {
        let endpoint = match (&self.tcp, &self.serial) {
            (Some(addr), None) => Endpoint::Tcp(addr.clone()),
            (None, Some(path)) => Endpoint::Serial { path: path.clone(), baud_rate: self.baud_rate },
            _ => return Err(InstrumentError::out_of_range("bridge", "tcp and serial", "exactly one of `tcp` or `serial`")),
        };
        if !(self.request_timeout_s.is_finite() && self.request_timeout_s > 0.0) {
            return Err(InstrumentError::out_of_range("bridge.request_timeout_s", self.request_timeout_s.to_string(), "> 0 s"));
        }
        if self.heartbeat_misses == 0 {
            return Err(InstrumentError::out_of_range("bridge.heartbeat_misses", "0", "≥ 1"));
        }
        Ok(ClientConfig {
            endpoint,
            request_timeout: Duration::from_secs_f64(self.request_timeout_s),
            heartbeat_misses: self.heartbeat_misses,
            max_reply_line_bytes: self.max_reply_line_bytes,
        })
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
    fn settings_resolve_and_reject_ambiguity() {
        let s = BridgeSettings { tcp: Some("127.0.0.1:7341".into()), ..Default::default() };
        let c = s.client_config().unwrap();
        assert_eq!(c.endpoint, Endpoint::Tcp("127.0.0.1:7341".into()));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        let both = BridgeSettings { serial: Some("/dev/ttyS0".into()), ..s.clone() };
        assert!(both.client_config().is_err());
        let none = BridgeSettings::default();
        assert!(none.client_config().is_err());
        let missing = BridgeSettings { token_env: "AFM_SPARK_TEST_TOKEN_THAT_IS_NOT_SET".into(), ..s };
        let err = missing.token().unwrap_err().to_string();
        assert!(err.contains("AFM_SPARK_TEST_TOKEN_THAT_IS_NOT_SET"), "{err}");
    }
}
