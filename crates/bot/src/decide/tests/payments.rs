//! Buying with Telegram Stars and the admin's refunds (issue #16): what each press, pre-checkout
//! query and successful payment decides.

use vpnkeeper_domain::command::payment::{ProviderPayment, STARS};
use vpnkeeper_domain::command::plan::PlanSpec;
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_store::plan_queries::Plan as StoredPlan;

use super::*;

fn on_sale(id: i64, archived: bool, price: i64) -> StoredPlan {
    StoredPlan {
        id,
        spec: PlanSpec {
            name: format!("plan{id}"),
            duration_days: 30,
            traffic_limit_bytes: 0,
            device_limit: 0,
            reset_strategy: ResetStrategy::parse("no_reset").unwrap(),
            reset_day: None,
            price_stars: price,
        },
        archived,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn with_plan(plan: Option<StoredPlan>) -> Snapshot {
    let mut snap = member();
    snap.plan = plan;
    snap
}

#[test]
fn buy_and_renew_open_the_plans_on_sale() {
    for cb in [Cb::Buy, Cb::Renew] {
        assert_eq!(
            press(&member(), cb),
            plan(vec![], vec![ack(), edit(ME, Screen::Buy)])
        );
    }
}

#[test]
fn a_plan_on_sale_becomes_an_order_and_its_invoice() {
    let got = press(&with_plan(Some(on_sale(4, false, 50))), Cb::BuyPlan(4));
    assert_eq!(
        got,
        plan(
            vec![Command::CreateOrder {
                order_id: "nonce-1".into(),
                telegram_id: ME,
                plan_id: 4,
            }],
            vec![
                ack(),
                Out::Invoice {
                    lang: Lang::En,
                    order_id: "nonce-1".into(),
                    order: CommandRef(0),
                }
                .to(ME),
            ]
        )
    );
}

#[test]
fn an_archived_free_or_gone_plan_is_not_sold() {
    for snap in [
        with_plan(Some(on_sale(4, true, 50))),
        with_plan(Some(on_sale(4, false, 0))),
        with_plan(None),
    ] {
        assert_eq!(
            press(&snap, Cb::BuyPlan(4)),
            plan(
                vec![],
                vec![alert(ME, Notice::PlanUnavailable), edit(ME, Screen::Buy)]
            )
        );
    }
}

#[test]
fn pre_checkout_is_checked_by_apply_and_answered_from_the_outbox() {
    let kind = Kind::PreCheckout {
        id: "pcq-9",
        currency: "XTR",
        total_amount: 50,
        payload: "u5:p4:oORDER1",
    };
    assert_eq!(
        run(&alice(), kind, &member()),
        plan(
            vec![Command::CheckOrder {
                order_id: "ORDER1".into(),
                telegram_id: ME,
                amount: 50,
                currency: "XTR".into(),
            }],
            vec![Out::PreCheckout {
                lang: Lang::En,
                query_id: "pcq-9".into(),
                check: Some(CommandRef(0)),
            }
            .to(ME)]
        )
    );
    // A payload we did not make: refused without a command; a stranger is answered too.
    let foreign = Kind::PreCheckout {
        id: "pcq-10",
        currency: "XTR",
        total_amount: 50,
        payload: "something else",
    };
    let stranger = person(4242, "Eve", None, "en");
    assert_eq!(
        run(&stranger, foreign, &Snapshot::default()),
        plan(
            vec![],
            vec![Out::PreCheckout {
                lang: Lang::En,
                query_id: "pcq-10".into(),
                check: None,
            }
            .to(4242)]
        )
    );
}

#[test]
fn a_successful_payment_is_credited_by_its_charge_id() {
    let kind = Kind::Paid {
        currency: "XTR",
        total_amount: 50,
        payload: "u5:p4:oORDER1",
        charge_id: "charge-1",
    };
    // Replies come from apply (only for a first credit), so the update plans none.
    assert_eq!(
        run(&alice(), kind, &member()),
        plan(
            vec![Command::CreditPayment {
                payment: ProviderPayment {
                    provider: STARS.into(),
                    provider_payment_id: "charge-1".into(),
                    order_id: "ORDER1".into(),
                    amount: 50,
                    currency: "XTR".into(),
                },
            }],
            vec![]
        )
    );
    let garbled = Kind::Paid {
        currency: "XTR",
        total_amount: 50,
        payload: "nope",
        charge_id: "charge-2",
    };
    assert_eq!(
        run(&alice(), garbled, &member()),
        plan(
            vec![],
            vec![notice_to(ME, Lang::En, Notice::PaymentUnrecognized)]
        )
    );
}

#[test]
fn admins_list_and_refund_payments() {
    assert_eq!(
        admin_press(&admin(), Cb::Payments(2)),
        plan(
            vec![],
            vec![ack_admin(), edit(ADMIN, Screen::Payments { page: 2 })]
        )
    );
    assert_eq!(
        admin_press(&admin(), Cb::Refund(7)),
        plan(
            vec![],
            vec![ack_admin(), edit(ADMIN, Screen::ConfirmRefund { id: 7 })]
        )
    );
    assert_eq!(
        admin_press(&admin(), Cb::RefundYes(7)),
        plan(
            vec![Command::RequestRefund { payment_id: 7 }],
            vec![
                ack_admin(),
                edit(
                    ADMIN,
                    Screen::RefundRequested {
                        id: 7,
                        outcome: CommandRef(0)
                    }
                )
            ]
        )
    );
    // A member's forged refund press does nothing.
    assert_eq!(
        press(&member(), Cb::RefundYes(7)),
        plan(vec![], vec![alert(ME, Notice::AdminsOnly)])
    );
}
