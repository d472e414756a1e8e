//! `[subscription]`: the section's keys, defaults and checks live in the API crate
//! (`vpnkeeper_api::SubscriptionSettings`), next to the code that uses them; this file only
//! phrases its problems as the config's one line.

use super::{invalid, ConfigError};

pub(super) fn check(settings: &vpnkeeper_api::SubscriptionSettings) -> Result<(), ConfigError> {
    settings.check().map_err(|m| {
        let (key, why) = m.split_once(": ").unwrap_or((&m, "invalid value"));
        invalid(key, why)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_a_bad_template_names_its_key() {
        let mut s = vpnkeeper_api::SubscriptionSettings::default();
        assert!(check(&s).is_ok());
        s.profile_title = "  ".into();
        let e = check(&s).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid config key `subscription.profile_title`"),
            "{e}"
        );
    }
}
