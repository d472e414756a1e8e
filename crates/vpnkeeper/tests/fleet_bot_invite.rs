//! The admin's `/invite [ttl]` against the fake Bot API: the bot answers with a join link
//! that a new node then joins with; a bad ttl gets one line naming the accepted forms;
//! non-admins are refused. The invite is audited as the admin's.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use bot::BotNode;
use common::fleet::{try_join, NO_LIMITS};
use common::stderr;
use fake_telegram::TgUser;

const ADMIN: i64 = 1001;
const ALICE: i64 = 2002;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_gets_a_join_link_that_a_new_node_joins_with() {
    let mut env = vec![
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ALLOWED_IDS", "2002"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
    ];
    env.extend(NO_LIMITS);
    let b = BotNode::start(&env).await;
    let admin = TgUser::new(ADMIN, "Root", Some("root"), "en");
    let alice = TgUser::new(ALICE, "Alice", Some("alice"), "en");

    // A non-admin is refused, and no invite is made.
    let refused = b.say(&alice, "/invite 1h").await;
    assert!(refused.text().contains("Admins only"), "{}", refused.text());

    // A bad ttl: one line saying what was wrong and which forms work.
    let bad = b.say(&admin, "/invite soon").await;
    let text = bad.text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("`soon` is not a duration"), "{text}");
    assert!(text.contains("30s, 15m, 2h or 1d"), "{text}");

    let reply = b.say(&admin, "/invite 2h").await;
    let text = reply.text();
    assert!(text.contains("works once, for 2h"), "{text}");
    // The link is the message's first `<code>` (HTML-escaped, as Telegram receives it).
    let link = text
        .split_once("<code>")
        .and_then(|(_, rest)| rest.split_once("</code>"))
        .map(|(code, _)| code.replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("no link in {text}"));
    assert!(link.contains("token="), "{link}");
    // The audit names the admin who asked.
    let audit = b.audit().await;
    let invites: Vec<_> = audit
        .iter()
        .filter(|e| e.to_string().contains("invite.create"))
        .collect();
    assert_eq!(invites.len(), 1, "{audit:?}");
    assert!(invites[0].to_string().contains("1001"), "{:?}", invites[0]);

    // The link is a real one: a new node joins with it, once.
    let link2 = link.clone();
    let (out, _node) = tokio::task::spawn_blocking(move || try_join(&link2))
        .await
        .unwrap();
    assert!(out.status.success(), "join: {}", stderr(&out));
    let (again, _) = tokio::task::spawn_blocking(move || try_join(&link))
        .await
        .unwrap();
    assert!(!again.status.success(), "a used link joined again");
}
