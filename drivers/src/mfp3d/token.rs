//! The shared secret a client presents in `hello`: never printed (its `Debug`/`Display` are redacted),
//! compared in constant time, read from the environment or a file rather than from a config file.

use crate::error::InstrumentError;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The default environment variable holding the bridge token.
pub const DEFAULT_TOKEN_ENV: &str = "AFM_SPARK_BRIDGE_TOKEN";

/// A bridge token. Its `Debug` and `Display` print `***`, so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BridgeToken(String);

impl BridgeToken {
    /// Wraps `secret`. An empty token is refused: a bridge without a secret is not authenticated.
    pub fn new(secret: impl Into<String>) -> Result<Self, InstrumentError> {
        let secret = secret.into();
        if secret.trim().is_empty() {
            return Err(InstrumentError::out_of_range("bridge token", "empty", "a non-empty secret"));
        }
        Ok(Self(secret))
    }

    /// Reads the token from the environment variable `var` (surrounding whitespace removed).
    pub fn from_env(var: &str) -> Result<Self, InstrumentError> {
        let value = std::env::var(var).map_err(|_| {
            InstrumentError::out_of_range("bridge token", format!("environment variable {var} unset"), "a non-empty secret")
        })?;
        Self::new(value.trim().to_string())
    }

    /// Reads the token from the first line of the file at `path`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, InstrumentError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InstrumentError::out_of_range("bridge token file", format!("{}: {e}", path.display()), "a readable file"))?;
        Self::new(text.lines().next().unwrap_or("").trim().to_string())
    }

    /// The secret itself, for putting on the wire. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented token.
    pub fn matches(&self, presented: &BridgeToken) -> bool {
        self.0.as_bytes().ct_eq(presented.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for BridgeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BridgeToken(***)")
    }
}

impl std::fmt::Display for BridgeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn token_is_redacted_and_compared_by_value() {
        let t = BridgeToken::new("s3cret").unwrap();
        assert_eq!(format!("{t:?} {t}"), "BridgeToken(***) ***");
        assert!(t.matches(&BridgeToken::new("s3cret").unwrap()));
        assert!(!t.matches(&BridgeToken::new("s3cre").unwrap()));
        assert!(BridgeToken::new("  ").is_err());
    }
}
