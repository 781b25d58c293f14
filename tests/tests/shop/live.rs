//! Live stock over Server-Sent Events: the current state first, a new state when the hat's stock
//! changes, a fresh state after the shared listener reconnects, keep-alives, and the caps on open
//! streams per client address (429) and in total (503).

use crate::support::{EVENTUALLY, EventReader, Hat, LISTENING, START, ShopUnderTest, Sse};
use std::time::Duration;

fn text(event: &serde_json::Value) -> &str {
    event["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_open_stream_hears_stock_changes_and_keeps_alive() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3), Hat::new("2", "Bowler", 9)],
        &[("FUNNYHAT_LIVE__KEEP_ALIVE_SECS", "1")],
    )
    .await
    .unwrap();
    let response = shop.open_stream("1").await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let mut events = EventReader::new(response);
    let first = events.next_stock(EVENTUALLY).await.unwrap();
    assert_eq!(text(&first), "Only 3 left");
    assert_eq!(first["level"], "low");
    assert_eq!(first["refreshing"], false);

    shop.set_on_hand("1", 0).await.unwrap();
    let event = events
        .wait_for_stock("Out of stock", |e| text(e) == "Out of stock")
        .await
        .unwrap();
    assert_eq!(event["level"], "out");

    // Another hat's change says nothing here; an idle stream gets keep-alive comments.
    shop.set_on_hand("2", 8).await.unwrap();
    assert_eq!(
        events.next(Duration::from_secs(5)).await.unwrap(),
        Sse::Comment
    );

    // The hat is deleted in the legacy system: the open page is told.
    sqlx::query("UPDATE stock.items SET deleted = true WHERE item_key = '1'")
        .execute(&shop.bridge)
        .await
        .unwrap();
    shop.notify(r#"{"pos":"0-1-5","keys":["1"]}"#)
        .await
        .unwrap();
    events
        .wait_for_stock("no longer available", |e| text(e) == "No longer available")
        .await
        .unwrap();
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn a_stream_gets_a_fresh_state_after_the_listener_reconnects() {
    let mut shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 3)], &[])
        .await
        .unwrap();
    let mut events = EventReader::new(shop.open_stream("1").await.unwrap());
    assert_eq!(
        text(&events.next_stock(EVENTUALLY).await.unwrap()),
        "Only 3 left"
    );

    // While the listener is down a change goes unannounced (the bridge's NOTIFY reaches nobody):
    // the reconnect must still bring it to the open page.
    assert_eq!(shop.kill_listener().await.unwrap(), 1);
    shop.set_on_hand("1", 2).await.unwrap();
    events
        .wait_for_stock("the current state", |e| text(e) == "Only 2 left")
        .await
        .unwrap();
    // The start-up line was read by `start`: this one is the reconnect.
    shop.process.wait_for_log(LISTENING, START).await.unwrap();
    shop.set_on_hand("1", 1).await.unwrap();
    events
        .wait_for_stock("the next change", |e| text(e) == "Only 1 left")
        .await
        .unwrap();
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn streams_are_capped_per_client_and_in_total() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3)],
        &[
            ("FUNNYHAT_LIVE__MAX_STREAMS_PER_CLIENT", "2"),
            ("FUNNYHAT_LIVE__MAX_STREAMS", "3"),
            ("FUNNYHAT_LIVE__KEEP_ALIVE_SECS", "1"),
        ],
    )
    .await
    .unwrap();
    let a = shop.open_stream("1").await.unwrap();
    let b = shop.open_stream("1").await.unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let refused = shop.open_stream("1").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("too many pages open")
    );

    // X-Forwarded-For from an untrusted peer changes nothing.
    let forged = shop
        .http
        .get(shop.url("/hats/1/stock/events"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 429);

    // Closing a stream gives its place back (noticed at the next keep-alive at the latest).
    drop(a);
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    let reopened = loop {
        let r = shop.open_stream("1").await.unwrap();
        if r.status() == 200 {
            break r;
        }
        assert_eq!(r.status(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let unknown = shop.open_stream("no-such-hat").await.unwrap();
    assert_eq!(unknown.status(), 404);
    drop((b, reopened));
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_cap_and_the_total_holds() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3)],
        &[
            ("FUNNYHAT_HTTP__TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
            ("FUNNYHAT_LIVE__MAX_STREAMS_PER_CLIENT", "1"),
            ("FUNNYHAT_LIVE__MAX_STREAMS", "3"),
        ],
    )
    .await
    .unwrap();
    let open_as = |client: &'static str| {
        shop.http
            .get(shop.url("/hats/1/stock/events"))
            .header("x-forwarded-for", client)
            .send()
    };
    let mut open = Vec::new();
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let r = open_as(client).await.unwrap();
        assert_eq!(r.status(), 200, "{client}");
        open.push(r);
    }
    assert_eq!(open_as("198.51.100.1").await.unwrap().status(), 429);
    let busy = open_as("198.51.100.4").await.unwrap();
    assert_eq!(busy.status(), 503);
    assert!(busy.headers().contains_key("retry-after"));
    drop(open);
    shop.finish().await.unwrap();
}
