//! Balances, promo codes, trials and referrals (issue #16): `/start ref_<code>` binds only a
//! newcomer to an existing referrer, tells an existing user why not; `/promo CODE` plans a
//! redemption whose outcome the reply reads; the trial button once per account; admins'
//! typed `/promo_new`, `/promo_off`, `/balance` with a usage line on bad arguments.

use vpnkeeper_domain::command::promo::{PromoGrant, PromoSpec};
use vpnkeeper_domain::command::referral::{code_of, ReferralReward};

use super::*;
use crate::PromoSettings;

const REWARD: ReferralReward = ReferralReward::Percent { percent: 10 };

fn newcomer() -> Snapshot {
    let mut snap = member();
    snap.policy.access = Access::Open;
    snap.user = None;
    snap.promo = PromoSettings {
        trial: Some((3, 5)),
        referral_reward: Some(REWARD),
    };
    snap
}

fn created() -> Command {
    Command::CreateUser {
        name: "alice".into(),
        telegram_id: Some(ME),
        sub_token: "token-1".into(),
    }
}

fn notice(n: Notice) -> OutboxItem {
    notice_to(ME, Lang::En, n)
}

#[test]
fn a_newcomer_with_a_referral_link_is_bound_to_the_referrer() {
    let mut snap = newcomer();
    snap.referrer = Some(user(42, "bob", 4242, true));
    let text = format!("/start ref_{}", code_of(42));
    assert_eq!(
        say_as(&alice(), &snap, &text),
        plan(
            vec![
                created(),
                Command::BindReferrer {
                    referee: UserRef::TelegramId(ME),
                    code: code_of(42),
                    reward: REWARD,
                },
            ],
            vec![fresh(ME, main_screen("Alice"))]
        )
    );
}

#[test]
fn a_link_of_no_user_or_with_referrals_off_binds_no_one() {
    // A code naming no user: binding would be refused and undo the user's creation.
    let snap = newcomer();
    let plan_ = say_as(&alice(), &snap, "/start ref_zz");
    assert_eq!(plan_.commands, vec![created()]);
    let mut off = newcomer();
    off.referrer = Some(user(42, "bob", 4242, true));
    off.promo.referral_reward = None;
    let text = format!("/start ref_{}", code_of(42));
    assert_eq!(say_as(&alice(), &off, &text).commands, vec![created()]);
}

#[test]
fn own_link_and_existing_users_are_told_why_not() {
    let mut snap = member();
    snap.promo.referral_reward = Some(REWARD);
    let own = format!("/start ref_{}", code_of(MY_USER));
    assert_eq!(
        say_as(&alice(), &snap, &own),
        plan(
            vec![],
            vec![fresh(ME, main_screen("Alice")), notice(Notice::ReferralOwn)]
        )
    );
    snap.referrer = Some(user(42, "bob", 4242, true));
    let other = format!("/start ref_{}", code_of(42));
    assert_eq!(
        say_as(&alice(), &snap, &other),
        plan(
            vec![],
            vec![
                fresh(ME, main_screen("Alice")),
                notice(Notice::ReferralNotNew)
            ]
        )
    );
}

#[test]
fn promo_command_plans_a_redemption_and_reports_its_outcome() {
    assert_eq!(
        say_as(&alice(), &member(), "/promo summer25"),
        plan(
            vec![Command::RedeemPromoCode {
                user: UserRef::TelegramId(ME),
                code: "SUMMER25".into(),
            }],
            vec![notice(Notice::PromoResult {
                outcome: CommandRef(0)
            })]
        )
    );
    assert_eq!(
        say_as(&alice(), &member(), "/promo"),
        plan(vec![], vec![notice(Notice::PromoHowTo)])
    );
    assert_eq!(
        say_as(&alice(), &member(), "/promo no!"),
        plan(vec![], vec![notice(Notice::PromoBadCode)])
    );
    assert_eq!(
        press(&member(), Cb::Promo),
        plan(vec![], vec![ack(), notice(Notice::PromoHowTo)])
    );
    assert_eq!(
        press(&member(), Cb::Account),
        plan(vec![], vec![ack(), edit(ME, Screen::Account)])
    );
}

#[test]
fn trial_once_per_account_and_only_when_configured() {
    let mut snap = member();
    snap.promo.trial = Some((3, 5));
    assert_eq!(
        press(&snap, Cb::Trial),
        plan(
            vec![Command::StartTrial {
                telegram_id: ME,
                plan_id: 3,
                days: 5,
            }],
            vec![
                ack(),
                notice(Notice::TrialResult {
                    outcome: CommandRef(0),
                    days: 5
                })
            ]
        )
    );
    snap.trial_used = true;
    assert_eq!(
        press(&snap, Cb::Trial),
        plan(vec![], vec![alert(ME, Notice::TrialUsed)])
    );
    assert_eq!(
        press(&member(), Cb::Trial),
        plan(vec![], vec![alert(ME, Notice::Outdated)])
    );
}

#[test]
fn admins_create_disable_codes_and_move_balances() {
    let spec = PromoSpec {
        code: "WELCOME".into(),
        grant: PromoGrant::Traffic { bytes: 50 << 30 },
        max_uses: 100,
        expires_at_ms: None,
    };
    assert_eq!(
        say_as(&root(), &admin(), "/promo_new welcome traffic 50G 100"),
        plan(
            vec![Command::CreatePromoCode { promo: spec }],
            vec![notice_to(
                ADMIN,
                Lang::En,
                Notice::Failed {
                    outcome: CommandRef(0)
                }
            )]
        )
    );
    let mut snap = admin();
    snap.now_ms = 1_000;
    let p = say_as(&root(), &snap, "/promo_new HALF discount 50 5 7");
    assert_eq!(
        p.commands,
        vec![Command::CreatePromoCode {
            promo: PromoSpec {
                code: "HALF".into(),
                grant: PromoGrant::Discount { percent: 50 },
                max_uses: 5,
                expires_at_ms: Some(1_000 + 7 * 86_400_000),
            }
        }]
    );
    for bad in [
        "/promo_new X discount 50 5",
        "/promo_new HALF gift 50 5",
        "/promo_new HALF discount 500 5",
        "/promo_new HALF days 5",
    ] {
        let p = say_as(&root(), &admin(), bad);
        assert!(p.commands.is_empty(), "{bad}");
        assert!(
            matches!(&p.outbox[..], [o] if o.payload["notice"]["notice"] == "admin_usage"),
            "{bad}: {:?}",
            p.outbox
        );
    }
    assert_eq!(
        say_as(&root(), &admin(), "/promo_off half").commands,
        vec![Command::DisablePromoCode {
            code: "HALF".into()
        }]
    );
    assert_eq!(
        say_as(&root(), &admin(), "/balance tg:2002 -30 refund by hand"),
        plan(
            vec![Command::AdjustBalance {
                user: UserRef::TelegramId(2002),
                delta_stars: -30,
                reason: "refund by hand".into(),
            }],
            vec![notice_to(
                ADMIN,
                Lang::En,
                Notice::BalanceResult {
                    outcome: CommandRef(0)
                }
            )]
        )
    );
    assert!(say_as(&root(), &admin(), "/balance alice 0")
        .commands
        .is_empty());
    assert!(say_as(&root(), &admin(), "/balance alice")
        .commands
        .is_empty());
    // Not for members: their `/balance` is an unknown command.
    assert_eq!(
        say_as(&alice(), &member(), "/balance alice 100"),
        plan(vec![], vec![notice(Notice::UnknownCommand)])
    );
    assert_eq!(
        say_as(&root(), &admin(), "/promos"),
        plan(vec![], vec![fresh(ADMIN, Screen::PromoCodes)])
    );
}
