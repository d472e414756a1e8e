//! The Telegram bot's user and admin flows: the real `vpnkeeper` binary long-polling a fake
//! Bot API over HTTP (`common/fake_telegram.rs`).

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::time::Duration;

use bot::{BotNode, WAIT};
use fake_telegram::{Call, TgUser};

const ADMIN: i64 = 1001;
const ALICE: i64 = 2002;
const BOB: i64 = 3003;

fn alice() -> TgUser {
    TgUser::new(ALICE, "Alice", Some("alice"), "en")
}
fn bob() -> TgUser {
    TgUser::new(BOB, "Боб", Some("bob_ru"), "ru")
}
fn admin() -> TgUser {
    TgUser::new(ADMIN, "Root", Some("root_admin"), "en")
}

async fn allowlist_node() -> BotNode {
    BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ALLOWED_IDS", "2002,3003"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
    ])
    .await
}

fn has(call: &Call, data: &str) -> bool {
    call.buttons().iter().any(|b| b == data)
}

fn docs_to(b: &BotNode, chat: i64) -> Vec<(String, Vec<u8>)> {
    b.fake
        .calls_to(chat)
        .iter()
        .filter(|c| c.method == "sendDocument")
        .map(|c| c.file("document").expect("document file part"))
        .collect()
}

async fn devices_of(b: &BotNode, user: &str, revoked: bool) -> Vec<serde_json::Value> {
    b.api(&format!(
        "/api/v1/devices?user={user}&include_revoked={revoked}"
    ))
    .await["devices"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_flow_start_phone_config_matches_api_then_revoke() {
    let b = allowlist_node().await;
    let alice = alice();

    let menu = b.menu(&alice).await;
    assert!(menu.text().contains("Hello, Alice!"), "{}", menu.text());
    for data in ["d:phone", "d:laptop", "d:router", "ls", "h", "lg:ru"] {
        assert!(has(&menu, data), "{data} missing in {:?}", menu.buttons());
    }
    assert!(!has(&menu, "a"), "no admin button for a user");

    // 📱 → the config document, its QR code, and the menu message edited in place.
    let screen = b.press_screen(&alice, &menu, "d:phone").await;
    assert_eq!(screen.method, "editMessageText");
    assert_eq!(
        screen.params["message_id"].as_i64(),
        menu.message_id,
        "the one main message is edited"
    );
    assert!(
        screen.text().contains("config for the 📱 phone"),
        "{}",
        screen.text()
    );
    let docs = docs_to(&b, ALICE);
    assert_eq!(docs.len(), 1);
    let (file_name, bytes) = &docs[0];
    assert_eq!(file_name, "alice_phone.conf");
    let photo = b
        .fake
        .calls_to(ALICE)
        .into_iter()
        .find(|c| c.method == "sendPhoto")
        .expect("a QR code photo");
    let (_, png) = photo.file("photo").expect("photo file part");
    assert!(png.starts_with(b"\x89PNG"), "QR code is a PNG");

    // The document is exactly what the API serves for that device.
    let devices = devices_of(&b, "alice", false).await;
    assert_eq!(devices.len(), 1, "{devices:?}");
    let id = devices[0]["id"].as_i64().unwrap();
    assert_eq!(devices[0]["device_type"], "phone");
    let api_conf = b.api_text(&format!("/api/v1/devices/{id}/config")).await;
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), api_conf);
    // Byte-identical, file name included: both come from the one artifact renderer.
    let api_file = b.api_file(&format!("/api/v1/devices/{id}/config")).await;
    assert_eq!(
        &api_file, &docs[0],
        "the bot's document is the API's /config download"
    );
    assert!(api_conf.contains("[Interface]") && api_conf.contains("PrivateKey"));

    // Asking again returns the same config.
    b.press_screen(&alice, &menu, "d:phone").await;
    let docs = docs_to(&b, ALICE);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].1, docs[0].1, "same config the second time");
    assert_eq!(devices_of(&b, "alice", false).await.len(), 1);

    // My devices → the device → revoke, with confirmation.
    let list = b.press_screen(&alice, &menu, "ls").await;
    assert!(list.text().contains("Your device"), "{}", list.text());
    assert!(has(&list, &format!("dv:{id}")), "{:?}", list.buttons());
    let card = b.press_screen(&alice, &menu, &format!("dv:{id}")).await;
    assert!(has(&card, &format!("dl:{id}")) && has(&card, &format!("rv:{id}")));
    // Download again: document and QR, nothing else changes.
    b.press(&alice, &menu, &format!("dl:{id}")).await;
    b.fake
        .wait("third document", WAIT, |_| docs_to(&b, ALICE).len() == 3)
        .await;
    let confirm = b.press_screen(&alice, &menu, &format!("rv:{id}")).await;
    assert!(confirm.text().contains("Revoke"), "{}", confirm.text());
    assert!(has(&confirm, &format!("rvy:{id}")) && has(&confirm, &format!("dv:{id}")));
    assert!(
        devices_of(&b, "alice", false).await.len() == 1,
        "nothing revoked before yes"
    );
    let done = b.press_screen(&alice, &menu, &format!("rvy:{id}")).await;
    assert!(done.text().contains("revoked"), "{}", done.text());
    assert!(devices_of(&b, "alice", false).await.is_empty());
    let all = devices_of(&b, "alice", true).await;
    assert_eq!(all[0]["active"], false);

    // Audited as the Telegram user.
    let audit = b.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "device.revoke" && e["actor"] == format!("tg:{ALICE}")),
        "{audit:?}"
    );
    // A stale button for the revoked device is refused politely.
    let stale = b.press(&alice, &menu, &format!("dl:{id}")).await;
    let answer = b.answer_of(stale).unwrap();
    assert!(answer.params["text"].as_str().unwrap().contains("outdated"));
    assert_eq!(
        docs_to(&b, ALICE).len(),
        3,
        "no config for a revoked device"
    );
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn language_follows_the_client_and_switches_with_russian_plurals() {
    let b = allowlist_node().await;
    let bob = bob();
    let menu = b.menu(&bob).await;
    assert!(menu.text().contains("Привет, Боб!"), "{}", menu.text());
    assert!(has(&menu, "lg:en"));
    b.press_screen(&bob, &menu, "d:phone").await;
    b.press_screen(&bob, &menu, "d:laptop").await;
    let menu = b.menu(&bob).await;
    assert!(
        menu.text().contains("У вас 2 устройства."),
        "{}",
        menu.text()
    );
    // The previous menu message is deleted (right after the new one is sent): one main
    // message per chat.
    b.fake
        .wait("the old menu message deleted", WAIT, |_| {
            b.fake
                .calls_to(BOB)
                .iter()
                .any(|c| c.method == "deleteMessage")
        })
        .await;
    let list = b.press_screen(&bob, &menu, "ls").await;
    assert!(
        list.text().contains("У вас 2 устройства:"),
        "{}",
        list.text()
    );

    // Switch to English and back with the button; /lang toggles too.
    let en = b.press_screen(&bob, &menu, "lg:en").await;
    assert!(en.text().contains("You have 2 devices."), "{}", en.text());
    assert!(has(&en, "lg:ru"));
    let help = b.say(&bob, "/help").await;
    assert!(help.text().contains("How it works"), "{}", help.text());
    let ru = b.say(&bob, "/lang").await;
    assert!(ru.text().contains("Выберите устройство"), "{}", ru.text());
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_flows_stats_users_nodes_reboot_broadcast() {
    let b = allowlist_node().await;
    let (admin, alice, bob) = (admin(), alice(), bob());
    b.menu(&alice).await;
    b.menu(&bob).await;

    let panel = b.say(&admin, "/admin").await;
    for data in ["as", "au:0", "ao", "bc"] {
        assert!(has(&panel, data), "{data} missing: {:?}", panel.buttons());
    }
    let stats = b.press_screen(&admin, &panel, "as").await;
    assert!(stats.text().contains("Users: 3"), "{}", stats.text());

    // Users: paginated list → Alice → disable (audited) → she is refused → enable.
    let users = b.press_screen(&admin, &panel, "au:0").await;
    let alice_id = b.user_of(ALICE).await.unwrap()["id"].as_i64().unwrap();
    assert!(
        has(&users, &format!("ad:{alice_id}")),
        "{:?}",
        users.buttons()
    );
    let card = b
        .press_screen(&admin, &panel, &format!("ad:{alice_id}"))
        .await;
    assert!(card.text().contains("alice"), "{}", card.text());
    let disabled = b
        .press_screen(&admin, &panel, &format!("ax:{alice_id}"))
        .await;
    assert!(disabled.text().contains("disabled"), "{}", disabled.text());
    assert_eq!(b.user_of(ALICE).await.unwrap()["enabled"], false);
    let refusal = b.say(&alice, "/start").await;
    assert!(refusal.text().contains("disabled"), "{}", refusal.text());
    assert!(refusal.buttons().is_empty());
    b.press_screen(&admin, &panel, &format!("ae:{alice_id}"))
        .await;
    assert_eq!(b.user_of(ALICE).await.unwrap()["enabled"], true);
    let audit = b.audit().await;
    for action in ["user.disable", "user.enable"] {
        assert!(
            audit
                .iter()
                .any(|e| e["action"] == action && e["actor"] == format!("tg:{ADMIN}")),
            "{action} not audited: {audit:?}"
        );
    }

    // Nodes → node 1 → reboot: cancel first, then confirm.
    let nodes = b.press_screen(&admin, &panel, "ao").await;
    assert!(nodes.text().contains("🟢"), "{}", nodes.text());
    assert!(has(&nodes, "ok:1"));
    b.press_screen(&admin, &panel, "ok:1").await;
    let confirm = b.press_screen(&admin, &panel, "rb:1").await;
    let yes = |c: &Call| {
        c.buttons()
            .into_iter()
            .find(|d| d.starts_with("rby:1:"))
            .unwrap_or_else(|| panic!("no confirm button with a nonce: {:?}", c.buttons()))
    };
    yes(&confirm);
    assert!(has(&confirm, "rbn:1"), "{:?}", confirm.buttons());
    assert!(confirm.text().contains("Reboot node"), "{}", confirm.text());
    let cancelled = b.press_screen(&admin, &panel, "rbn:1").await;
    assert!(has(&cancelled, "rb:1"), "back on the node card");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(b.ops().is_empty(), "cancel must not reboot");
    // A hand-made confirmation (no nonce) reboots nothing and says so.
    let before = b.fake.calls_to(ADMIN).len();
    let forged = b.press(&admin, &panel, "rby:1").await;
    let answer = b.answer_of(forged).unwrap();
    assert!(
        answer.params["text"]
            .as_str()
            .unwrap_or_default()
            .contains("not valid"),
        "{:?}",
        answer.params
    );
    // The refusal shows the card again (after the alert); the next press must not take
    // that card for its own screen.
    b.fake
        .wait("the card again after the refusal", WAIT, |calls| {
            calls
                .iter()
                .filter(|c| c.chat() == Some(ADMIN))
                .skip(before)
                .any(|c| c.method == "editMessageText" && has(c, "rb:1"))
        })
        .await;
    let confirm = b.press_screen(&admin, &panel, "rb:1").await;
    let requested = b.press_screen(&admin, &panel, &yes(&confirm)).await;
    assert!(
        requested.text().contains("requested"),
        "{}",
        requested.text()
    );
    b.fake
        .wait("reboot result", WAIT, |calls| {
            calls
                .iter()
                .any(|c| c.chat() == Some(ADMIN) && c.text().contains("is rebooting"))
        })
        .await;
    let ops = b.ops();
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0]["op"], "reboot");
    assert_eq!(ops[0]["node_id"], 1);
    assert!(b
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "node.reboot" && e["actor"] == format!("tg:{ADMIN}")));

    // Broadcast: ask → text → preview → send; everyone gets it once; the admin is told.
    let ask = b.press_screen(&admin, &panel, "bc").await;
    assert!(has(&ask, "bcn"));
    let preview = b.say(&admin, "Maintenance tonight <b>22:00</b>").await;
    assert!(
        preview.text().contains("This goes to 3 users"),
        "{}",
        preview.text()
    );
    assert!(
        preview.text().contains("&lt;b&gt;22:00"),
        "user text is escaped: {}",
        preview.text()
    );
    b.press_screen(&admin, &preview, "bcy").await;
    b.fake
        .wait("broadcast finished", Duration::from_secs(30), |calls| {
            calls.iter().any(|c| {
                c.chat() == Some(ADMIN) && c.text().contains("Broadcast finished: 3 delivered")
            })
        })
        .await;
    for chat in [ADMIN, ALICE, BOB] {
        let got = b
            .fake
            .calls_to(chat)
            .iter()
            .filter(|c| c.method == "sendMessage" && c.text() == "Maintenance tonight <b>22:00</b>")
            .count();
        assert_eq!(got, 1, "chat {chat} got the broadcast {got} times");
    }
    assert!(b
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "broadcast.start" && e["actor"] == format!("tg:{ADMIN}")));
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_admin_pressing_admin_buttons_gets_a_refusal_only() {
    let b = allowlist_node().await;
    let alice = alice();
    let menu = b.menu(&alice).await;
    let alice_id = b.user_of(ALICE).await.unwrap()["id"].as_i64().unwrap();
    let before = b.fake.calls_to(ALICE).len();
    for data in [
        "a",
        "as",
        "au:0",
        &format!("ax:{alice_id}"),
        "rby:1",
        "bc",
        "bcy",
        "aa:5",
    ] {
        let update = b.press(&alice, &menu, data).await;
        let answer = b.answer_of(update).unwrap();
        assert_eq!(answer.params["show_alert"], true, "{data}");
        assert!(
            answer.params["text"]
                .as_str()
                .unwrap()
                .contains("Admins only"),
            "{data}: {:?}",
            answer.params
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after: Vec<Call> = b.fake.calls_to(ALICE).into_iter().skip(before).collect();
    assert!(
        after.iter().all(|c| c.method == "answerCallbackQuery"),
        "only answers: {:?}",
        after.iter().map(|c| &c.method).collect::<Vec<_>>()
    );
    assert!(b.ops().is_empty());
    assert_eq!(b.user_of(ALICE).await.unwrap()["enabled"], true);
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_mode_requests_reach_admins_who_approve_or_deny() {
    let b = BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "approval"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "[1001]"),
    ])
    .await;
    let admin = admin();
    let carol = TgUser::new(5005, "Carol", Some("carol"), "en");
    let dave = TgUser::new(6006, "Dave", None, "ru");

    let asked = b.menu(&carol).await;
    assert!(
        asked.text().contains("sent to the admins"),
        "{}",
        asked.text()
    );
    assert!(asked.buttons().is_empty());
    let notice = b.fake.nth_to(ADMIN, &["sendMessage"], 1, WAIT).await;
    assert!(notice.text().contains("Carol @carol"), "{}", notice.text());
    assert!(has(&notice, "aa:5005") && has(&notice, "an:5005"));
    assert!(b.user_of(5005).await.is_none(), "no user before approval");
    // Asking again while pending: told to wait, no second admin notice.
    let again = b.say(&carol, "/start").await;
    assert!(again.text().contains("still waiting"), "{}", again.text());

    let decided = b.press_screen(&admin, &notice, "aa:5005").await;
    assert!(
        decided.text().contains("was given access"),
        "{}",
        decided.text()
    );
    let welcome = b.fake.nth_to(5005, &["sendMessage"], 3, WAIT).await;
    assert!(
        welcome.text().contains("You have access now"),
        "{}",
        welcome.text()
    );
    let user = b.user_of(5005).await.expect("user created on approval");
    assert_eq!(user["name"], "carol");
    let menu = b.menu(&carol).await;
    assert!(has(&menu, "d:phone"), "{:?}", menu.buttons());

    // Dave (Russian client) is denied, in Russian; a second press finds it decided.
    b.menu(&dave).await;
    // The admin's new notice (other admin screens may have been sent meanwhile).
    b.fake
        .wait("Dave's request reaches the admin", WAIT, |_| {
            b.fake
                .calls_to(ADMIN)
                .iter()
                .any(|c| c.method == "sendMessage" && has(c, "an:6006"))
        })
        .await;
    let notice = b
        .fake
        .calls_to(ADMIN)
        .into_iter()
        .find(|c| c.method == "sendMessage" && has(c, "an:6006"))
        .unwrap();
    assert!(notice.text().contains("Dave"), "{}", notice.text());
    b.press_screen(&admin, &notice, "an:6006").await;
    let denied = b.fake.nth_to(6006, &["sendMessage"], 2, WAIT).await;
    assert!(denied.text().contains("отказано"), "{}", denied.text());
    let stale = b.press(&admin, &notice, "aa:6006").await;
    let answer = b.answer_of(stale).unwrap();
    assert!(answer.params["text"]
        .as_str()
        .unwrap()
        .contains("decided already"));
    assert!(b.user_of(6006).await.is_none());
    let refused = b.say(&dave, "/start").await;
    assert!(refused.text().contains("отказано"), "{}", refused.text());
    let audit = b.audit().await;
    for action in ["access.request", "access.approve", "access.deny"] {
        assert!(
            audit.iter().any(|e| e["action"] == action),
            "{action}: {audit:?}"
        );
    }
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_get_a_refusal_and_nothing_else() {
    let b = allowlist_node().await;
    let eve = TgUser::new(4004, "Eve", Some("eve"), "en");
    let refusal = b.menu(&eve).await;
    assert!(
        refusal.text().contains("Access denied"),
        "{}",
        refusal.text()
    );
    assert!(refusal.text().contains("4004"), "their id, for the admin");
    assert!(refusal.buttons().is_empty());
    let forged = b.press(&eve, &refusal, "d:phone").await;
    let answer = b.answer_of(forged).unwrap();
    assert!(answer.params["text"]
        .as_str()
        .unwrap()
        .contains("Access denied"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.user_of(4004).await.is_none());
    // One refusal message for the /start, one alert for the button, nothing else.
    let calls = b.fake.calls_to(4004);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let answers = b
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "answerCallbackQuery")
        .count();
    assert_eq!(answers, 1);
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_polite_answers_and_never_a_crash() {
    let b = allowlist_node().await;
    let (alice, bob) = (alice(), bob());
    let menu = b.menu(&alice).await;
    let bob_menu = b.menu(&bob).await;
    b.press_screen(&bob, &bob_menu, "d:phone").await;
    let bob_device = devices_of(&b, "bob_ru", false).await[0]["id"]
        .as_i64()
        .unwrap();

    // Plain text outside a flow is a message to support since issue #17
    // (tests/support_tickets.rs): acknowledged, never echoed back.
    let ack = b.say(&alice, "hello there").await;
    assert!(
        ack.text().contains("ticket #1") && !ack.text().contains("hello there"),
        "{}",
        ack.text()
    );
    let unknown = b.say(&alice, "/frobnicate now").await;
    assert!(
        unknown.text().contains("don't know this command"),
        "{}",
        unknown.text()
    );
    let huge = "я".repeat(4096);
    let r = b.say(&alice, &huge).await;
    assert!(r.text().len() < 200, "never echoed back");
    let n = b
        .fake
        .calls_to(ALICE)
        .iter()
        .filter(|c| c.method == "sendMessage")
        .count();
    b.fake.document(&alice);
    let files = b.fake.nth_to(ALICE, &["sendMessage"], n + 1, WAIT).await;
    assert!(
        files.text().contains("can't take files"),
        "{}",
        files.text()
    );
    b.fake.group_text(&alice, "/start");

    for data in [
        "dv:999999".to_string(),
        "garbage".to_string(),
        "dv:-1".to_string(),
        format!("rvy:{bob_device}"),
        format!("dl:{bob_device}"),
        "x".repeat(64),
    ] {
        let update = b.press(&alice, &menu, &data).await;
        let answer = b.answer_of(update).unwrap();
        assert!(
            answer.params["text"]
                .as_str()
                .unwrap_or("")
                .contains("outdated"),
            "{data}: {:?}",
            answer.params
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        devices_of(&b, "bob_ru", false).await.len(),
        1,
        "Bob's device untouched"
    );
    assert!(
        docs_to(&b, ALICE).is_empty(),
        "no config of someone else's device"
    );
    assert!(
        b.fake.calls_to(-100123).is_empty(),
        "group chats are ignored"
    );
    let log = b.node.log();
    assert!(!log.contains("panicked"), "{log}");
    // Still answering.
    let menu = b.menu(&alice).await;
    assert!(has(&menu, "d:phone"));
    b.assert_one_poller();
}

/// A node serving AmneziaWG and VLESS (Xray managed externally; it need not run for
/// issuing): the device buttons lead to a protocol choice, a VLESS device comes as its share
/// link (the API's, byte for byte) plus a QR code, and "My devices" carries the user's
/// subscription URL, which serves that same link.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_protocols_offer_a_choice_and_vless_comes_as_a_link() {
    let b = BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ALLOWED_IDS", "2002"),
        ("VPNKEEPER_XRAY__ENABLED", "true"),
        ("VPNKEEPER_XRAY__API_ADDR", "127.0.0.1:9"),
    ])
    .await;
    let alice = alice();
    let menu = b.menu(&alice).await;
    let choice = b.press_screen(&alice, &menu, "d:phone").await;
    assert!(
        has(&choice, "dp:phone:awg") && has(&choice, "dp:phone:vless"),
        "{:?}",
        choice.buttons()
    );
    assert!(
        docs_to(&b, ALICE).is_empty(),
        "nothing issued before the choice"
    );

    let before = b.fake.calls_to(ALICE).len();
    b.press_screen(&alice, &menu, "dp:phone:vless").await;
    b.fake
        .wait("the link, its QR code and the screen", WAIT, |_| {
            let calls = b.fake.calls_to(ALICE);
            // The screen comes after the link and the QR code: waiting for it too keeps it
            // from being taken for the next press's screen.
            calls[before..].iter().any(|c| c.method == "sendPhoto")
                && calls[before..]
                    .iter()
                    .any(|c| c.method == "sendMessage" && c.text().contains("vless://"))
                && calls[before..]
                    .iter()
                    .any(|c| c.text().contains("Your link for"))
        })
        .await;
    let devices = devices_of(&b, "alice", false).await;
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["protocol"], "vless");
    let id = devices[0]["id"].as_i64().unwrap();
    let api_link = b.api_text(&format!("/api/v1/devices/{id}/config")).await;
    let calls = b.fake.calls_to(ALICE);
    let msg = calls[before..]
        .iter()
        .find(|c| c.method == "sendMessage" && c.text().contains("vless://"))
        .unwrap();
    // The message is HTML: the link sits in <code> with & escaped.
    assert!(
        msg.text().contains(&api_link.trim().replace('&', "&amp;")),
        "bot link {} vs API {api_link}",
        msg.text()
    );
    assert!(docs_to(&b, ALICE).is_empty(), "a VLESS device has no .conf");

    // My devices: the subscription URL, which serves the same link.
    let list = b.press_screen(&alice, &menu, "ls").await;
    let user = b.user_of(ALICE).await.unwrap();
    let sub_url = user["subscription_url"].as_str().unwrap();
    assert!(list.text().contains(sub_url), "{}", list.text());
    let plain = reqwest::get(format!("{sub_url}?format=plain"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(plain.trim(), api_link.trim());
    b.assert_one_poller();
}
