//! The admin bot's plan screens (issue #15) on the real binary against the fake Bot API:
//! list, archive, assign/extend for a user, the stale-button refusal and the device-limit
//! refusal that names the limit.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use bot::BotNode;
use fake_telegram::{Call, TgUser};
use serde_json::{json, Value};

const ADMIN: i64 = 1001;
const ALICE: i64 = 2002;

fn has(call: &Call, data: &str) -> bool {
    call.buttons().iter().any(|b| b == data)
}

async fn create_plan(b: &BotNode, body: Value) -> i64 {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/plans", b.node.base()))
        .bearer_auth(&b.node.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_lists_archives_assigns_and_extends_plans() {
    let b = BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ALLOWED_IDS", "2002"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
    ])
    .await;
    let admin = TgUser::new(ADMIN, "Root", Some("root_admin"), "en");
    let alice = TgUser::new(ALICE, "Alice", Some("alice"), "en");
    let monthly = create_plan(
        &b,
        json!({"name": "monthly", "duration_days": 30, "device_limit": 1}),
    )
    .await;
    let old = create_plan(&b, json!({"name": "old", "duration_days": 7})).await;
    let menu = b.menu(&alice).await;
    let alice_id = b.user_of(ALICE).await.unwrap()["id"].as_i64().unwrap();

    // Admin → Plans → "old" → archive.
    let panel = b.say(&admin, "/admin").await;
    assert!(has(&panel, "pl"), "{:?}", panel.buttons());
    let list = b.press_screen(&admin, &panel, "pl").await;
    assert!(has(&list, &format!("pc:{monthly}")) && has(&list, &format!("pc:{old}")));
    let card = b.press_screen(&admin, &panel, &format!("pc:{old}")).await;
    assert!(
        card.text().contains("old") && card.text().contains("7 days"),
        "{}",
        card.text()
    );
    let archived = b.press_screen(&admin, &panel, &format!("px:{old}")).await;
    assert!(archived.text().contains("Archived"), "{}", archived.text());
    assert!(!has(&archived, &format!("px:{old}")));
    assert_eq!(
        b.api(&format!("/api/v1/plans/{old}")).await["archived"],
        true
    );

    // Alice's card → Plan: only the active plan is offered.
    let choices = b
        .press_screen(&admin, &panel, &format!("up:{alice_id}"))
        .await;
    assert!(
        has(&choices, &format!("ua:{alice_id}:{monthly}")),
        "{:?}",
        choices.buttons()
    );
    assert!(
        !has(&choices, &format!("ua:{alice_id}:{old}")),
        "archived offered"
    );
    b.press_screen(&admin, &panel, &format!("ua:{alice_id}:{monthly}"))
        .await;
    let user = b.user_of(ALICE).await.unwrap();
    assert_eq!(user["plan_id"], monthly);
    let first_expiry = user["expires_at_ms"].as_i64().expect("an expiry");
    // The same plan again extends it by its duration.
    b.press_screen(&admin, &panel, &format!("ua:{alice_id}:{monthly}"))
        .await;
    let extended = b.user_of(ALICE).await.unwrap()["expires_at_ms"]
        .as_i64()
        .unwrap();
    assert_eq!(extended - first_expiry, 30 * 86_400_000);

    // A stale button naming the archived plan: a polite alert, nothing changes.
    let update = b
        .press(&admin, &panel, &format!("ua:{alice_id}:{old}"))
        .await;
    let answer = b.answer_of(update).unwrap();
    assert!(
        answer.text().contains("no longer available"),
        "{:?}",
        answer.params
    );
    let user = b.user_of(ALICE).await.unwrap();
    assert_eq!(user["plan_id"], monthly);
    assert_eq!(user["expires_at_ms"].as_i64(), Some(extended));

    // The plan allows one device: the second is refused with the limit named and
    // "My devices" offered to revoke one.
    b.press_screen(&alice, &menu, "d:phone").await;
    let refused = b.press_screen(&alice, &menu, "d:laptop").await;
    assert!(
        refused.text().contains("limit of 1 devices"),
        "{}",
        refused.text()
    );
    assert!(has(&refused, "ls"), "{:?}", refused.buttons());
}

async fn plan_named(b: &BotNode, name: &str) -> Option<Value> {
    let list = b.api("/api/v1/plans?archived=true").await;
    list["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_creates_and_edits_a_plan_step_by_step() {
    let b = BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
    ])
    .await;
    let admin = TgUser::new(ADMIN, "Root", Some("root_admin"), "en");
    let panel = b.say(&admin, "/admin").await;
    let list = b.press_screen(&admin, &panel, "pl").await;
    assert!(has(&list, "pn"), "{:?}", list.buttons());
    let ask = b.press_screen(&admin, &panel, "pn").await;
    assert!(ask.text().contains("name"), "{}", ask.text());

    // Name typed; a bad duration is refused in one line and nothing is created.
    let days = b.say(&admin, "weekly").await;
    assert!(
        has(&days, "pdd:7") && has(&days, "pdd:30"),
        "{:?}",
        days.buttons()
    );
    let refusal = b.say(&admin, "0").await;
    assert!(
        refusal.text().contains("Duration") && !refusal.text().contains('\n'),
        "{}",
        refusal.text()
    );
    assert!(plan_named(&b, "weekly").await.is_none());

    // Duration by button, quota typed, reset strategy and day by buttons, devices.
    let quota = b.press_screen(&admin, &days, "pdd:7").await;
    assert!(has(&quota, "pdq:0"), "{:?}", quota.buttons());
    let reset = b.say(&admin, "50G").await;
    assert!(has(&reset, "pdr:day_of_month"), "{:?}", reset.buttons());
    let day = b.press_screen(&admin, &reset, "pdr:day_of_month").await;
    assert!(has(&day, "pdrd:31") && !has(&day, "pdrd:32"));
    let devices = b.press_screen(&admin, &day, "pdrd:31").await;
    let check = b.press_screen(&admin, &devices, "pdv:3").await;
    assert!(
        check.text().contains("weekly") && check.text().contains("7 days"),
        "{}",
        check.text()
    );
    let saved = b.press_screen(&admin, &check, "pdy").await;
    assert!(saved.text().contains("Plan saved"), "{}", saved.text());
    let p = plan_named(&b, "weekly")
        .await
        .expect("the plan was created");
    assert_eq!(p["duration_days"], 7);
    assert_eq!(p["traffic_limit_bytes"], 50_i64 << 30);
    assert_eq!(p["reset_strategy"], "day_of_month");
    assert_eq!(p["reset_day"], 31);
    assert_eq!(p["device_limit"], 3);
    assert_eq!(p["archived"], false);

    // A second plan with the same name is refused at the name step.
    let again = b.press_screen(&admin, &saved, "pn").await;
    let taken = b.say(&admin, "weekly").await;
    assert!(taken.text().contains("exists already"), "{}", taken.text());
    b.press_screen(&admin, &again, "pdn").await;

    // Edit: card → Edit → Duration → 30 days → Save.
    let id = p["id"].as_i64().unwrap();
    let card = b.press_screen(&admin, &panel, &format!("pc:{id}")).await;
    assert!(has(&card, &format!("pe:{id}")), "{:?}", card.buttons());
    let edit = b.press_screen(&admin, &card, &format!("pe:{id}")).await;
    let duration = b.press_screen(&admin, &edit, "pds:days").await;
    let back = b.press_screen(&admin, &duration, "pdd:30").await;
    b.press_screen(&admin, &back, "pdy").await;
    let p = plan_named(&b, "weekly").await.unwrap();
    assert_eq!(p["id"], id);
    assert_eq!(p["duration_days"], 30);
    assert_eq!(p["reset_day"], 31);
}
