//! The node card's telemetry in the bot (issue #14), with the real binary long-polling the
//! fake Bot API: Nodes → node card (current values as text) → chart photo sent (sendPhoto,
//! multipart) → the 6h button → the same photo edited (editMessageMedia). The card keeps
//! the speed test, reboot and drain buttons (items 4–6).

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::time::{Duration, Instant};

use bot::{BotNode, WAIT};
use fake_telegram::{Call, TgUser};

const ADMIN: i64 = 1001;

fn decode(png: &[u8]) -> image::RgbImage {
    image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .expect("a PNG")
        .to_rgb8()
}

fn buttons(call: &Call) -> Vec<String> {
    call.buttons()
}

/// Waits until node 1 has a few samples, so the chart has lines to draw.
async fn wait_samples(b: &BotNode) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = b.api("/api/v1/nodes/1/metrics?range=1h").await;
        if v["series"]["cpu_pct"]
            .as_array()
            .is_some_and(|a| a.len() >= 3)
        {
            return;
        }
        assert!(Instant::now() < deadline, "no samples: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_card_shows_values_and_a_chart_whose_range_buttons_edit_it() {
    let b = BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
        ("VPNKEEPER_NODE__SAMPLE_INTERVAL_SECS", "1"),
    ])
    .await;
    // A Russian-speaking admin: the chart's words are Cyrillic.
    let admin = TgUser::new(ADMIN, "Корень", Some("root_admin"), "ru");
    wait_samples(&b).await;

    let panel = b.say(&admin, "/admin").await;
    let nodes = b.press_screen(&admin, &panel, "ao").await;
    assert!(nodes.buttons().contains(&"ok:1".to_string()));
    let card = b.press_screen(&admin, &panel, "ok:1").await;
    let text = card.text();
    for part in ["ЦП:", "Память:", "Диск:", "Сеть:", "Мбит/с"] {
        assert!(text.contains(part), "{part} missing from the card: {text}");
    }
    // The node operations stay on the card next to the values: speed test and reboot.
    let ops = card.buttons();
    for data in ["st:1", "rb:1"] {
        assert!(ops.contains(&data.to_string()), "{data} missing: {ops:?}");
    }

    // The chart comes as a photo with the range buttons, the shown one marked.
    let photo = b.fake.nth_to(ADMIN, &["sendPhoto"], 1, WAIT).await;
    let (file_name, png) = photo.file("photo").expect("the photo part");
    assert_eq!(file_name, "chart.png");
    let first = decode(&png);
    assert!(first.width() >= 800, "{}", first.width());
    assert_eq!(first.dimensions(), (1000, 760));
    assert_eq!(buttons(&photo), ["nc:1:1", "nc:1:6", "nc:1:24"]);
    assert!(photo.caption().contains("1 ч"), "{}", photo.caption());

    // 6h: the same message is edited with a new photo.
    let message = photo.message_id.unwrap();
    let update = b.press(&admin, &photo, "nc:1:6").await;
    assert!(b.answer_of(update).is_some());
    let edited = b.fake.nth_to(ADMIN, &["editMessageMedia"], 1, WAIT).await;
    assert_eq!(
        edited.message_id,
        Some(message),
        "the pressed chart is edited"
    );
    let (_, png6) = edited.media_file().expect("the new photo");
    let six = decode(&png6);
    assert_eq!(six.dimensions(), (1000, 760));
    let differing = first
        .pixels()
        .zip(six.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(differing > 1000, "the 6h chart looks like the 1h one");
    assert!(edited.caption().contains("6 ч"), "{}", edited.caption());
    assert!(buttons(&edited).contains(&"nc:1:1".to_string()));
    // Exactly one photo was sent: the range change edited it.
    let photos = b
        .fake
        .calls_to(ADMIN)
        .iter()
        .filter(|c| c.method == "sendPhoto")
        .count();
    assert_eq!(photos, 1);

    // A forged range is refused as outdated and draws nothing.
    let forged = b.press(&admin, &photo, "nc:1:2").await;
    let answer = b.answer_of(forged).unwrap();
    assert_eq!(answer.params["show_alert"], true, "{:?}", answer.params);

    // Drain from the card (item 6): the card says so and offers the way back; placement's
    // input (the nodes' draining mark) is what the API's drain sets too.
    assert!(ops.contains(&"ndr:1".to_string()), "{ops:?}");
    let drained = b.press_screen(&admin, &panel, "ndr:1").await;
    assert!(drained.text().contains("Выводится"), "{}", drained.text());
    assert!(drained.buttons().contains(&"nud:1".to_string()));
    let undrained = b.press_screen(&admin, &panel, "nud:1").await;
    assert!(
        !undrained.text().contains("Выводится"),
        "{}",
        undrained.text()
    );
    assert!(undrained.buttons().contains(&"ndr:1".to_string()));
    b.assert_one_poller();
}
