//! `[payments]`: the free trial and the referral reward (issue #16 items 4 and 6). The bot
//! copies these into the commands it proposes (`StartTrial`, `BindReferrer`), so the
//! replicated state never depends on a node's config.

use serde::{Deserialize, Serialize};
use vpnkeeper_domain::command::referral::ReferralReward;

use super::{invalid, ConfigError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsSection {
    /// The plan (by id) a free trial puts the user on; unset = no trial is offered.
    pub trial_plan: Option<i64>,
    /// Length of the trial in days (not the plan's own duration).
    pub trial_days: i64,
    /// What a referrer gets when the referee's first payment succeeds: `none`, `days` or
    /// `percent` (of that payment, credited to the referrer's balance in Stars).
    pub referral_reward: String,
    /// With `referral_reward = "days"`.
    pub referral_days: i64,
    /// With `referral_reward = "percent"`.
    pub referral_percent: i64,
}

impl Default for PaymentsSection {
    fn default() -> Self {
        PaymentsSection {
            trial_plan: None,
            trial_days: 3,
            referral_reward: "none".into(),
            referral_days: 7,
            referral_percent: 10,
        }
    }
}

impl PaymentsSection {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.trial_plan.is_some_and(|p| p < 1) {
            return Err(invalid(
                "payments.trial_plan",
                "must be a plan id (see `vpnkeeper plan list`), or left out for no trial",
            ));
        }
        if !(1..=vpnkeeper_domain::command::trial::MAX_TRIAL_DAYS).contains(&self.trial_days) {
            return Err(invalid("payments.trial_days", "must be between 1 and 365"));
        }
        match self.referral_reward.as_str() {
            "none" => {}
            "days" if !(1..=365).contains(&self.referral_days) => {
                return Err(invalid(
                    "payments.referral_days",
                    "must be between 1 and 365",
                ));
            }
            "percent" if !(1..=100).contains(&self.referral_percent) => {
                return Err(invalid(
                    "payments.referral_percent",
                    "must be between 1 and 100",
                ));
            }
            "days" | "percent" => {}
            other => {
                return Err(invalid(
                    "payments.referral_reward",
                    format!("{other:?} is not one of \"none\", \"days\", \"percent\""),
                ))
            }
        }
        Ok(())
    }

    /// The bot's view of these settings.
    pub fn bot_settings(&self) -> vpnkeeper_bot::PromoSettings {
        let referral_reward = match self.referral_reward.as_str() {
            "days" => Some(ReferralReward::Days {
                days: self.referral_days,
            }),
            "percent" => Some(ReferralReward::Percent {
                percent: self.referral_percent,
            }),
            _ => None,
        };
        vpnkeeper_bot::PromoSettings {
            trial: self.trial_plan.map(|p| (p, self.trial_days)),
            referral_reward,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut PaymentsSection)) -> PaymentsSection {
        let mut p = PaymentsSection::default();
        f(&mut p);
        p
    }

    #[test]
    fn defaults_offer_nothing_and_pass() {
        let p = PaymentsSection::default();
        assert!(p.check().is_ok());
        let s = p.bot_settings();
        assert_eq!(s.trial, None);
        assert_eq!(s.referral_reward, None);
    }

    #[test]
    fn good_values_become_the_bots_settings() {
        let p = with(|p| {
            p.trial_plan = Some(2);
            p.trial_days = 5;
            p.referral_reward = "percent".into();
            p.referral_percent = 15;
        });
        assert!(p.check().is_ok());
        let s = p.bot_settings();
        assert_eq!(s.trial, Some((2, 5)));
        assert_eq!(
            s.referral_reward,
            Some(ReferralReward::Percent { percent: 15 })
        );
        let d = with(|p| p.referral_reward = "days".into()).bot_settings();
        assert_eq!(d.referral_reward, Some(ReferralReward::Days { days: 7 }));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (with(|p| p.trial_plan = Some(0)), "payments.trial_plan"),
            (with(|p| p.trial_days = 0), "payments.trial_days"),
            (with(|p| p.trial_days = 366), "payments.trial_days"),
            (
                with(|p| p.referral_reward = "stars".into()),
                "payments.referral_reward",
            ),
            (
                with(|p| {
                    p.referral_reward = "days".into();
                    p.referral_days = 0;
                }),
                "payments.referral_days",
            ),
            (
                with(|p| {
                    p.referral_reward = "percent".into();
                    p.referral_percent = 101;
                }),
                "payments.referral_percent",
            ),
        ];
        for (p, key) in cases {
            let e = p.check().expect_err(key).to_string();
            assert!(e.contains(key), "{e}");
        }
        // A bad percent does not matter while the reward is days.
        assert!(with(|p| p.referral_percent = 0).check().is_ok());
    }
}
