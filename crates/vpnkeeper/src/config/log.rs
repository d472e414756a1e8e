//! `[log]`: the log format and filter.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,vpnkeeper_cluster=debug`.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Text,
            level: "info,openraft=warn".into(),
        }
    }
}

impl LogSection {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.level) {
            return Err(invalid(
                "log.level",
                format!("not a valid filter ({e}); try `info` or `debug`"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::assert_bad;

    #[test]
    fn good_filters_pass_and_bad_ones_name_the_key() {
        for level in ["info", "debug,openraft=warn", "vpnkeeper_cluster=trace"] {
            let s = LogSection {
                level: level.into(),
                ..Default::default()
            };
            s.check().unwrap_or_else(|e| panic!("{level}: {e}"));
        }
        let s = LogSection {
            level: "info,vpnkeeper=loud".into(),
            ..Default::default()
        };
        assert_bad(s.check(), "log.level", "not a valid filter");
    }
}
