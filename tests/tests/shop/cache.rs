//! The catalogue cache and the shared listener: pages are served from the cache while nothing
//! changes, a `NOTIFY stock_changed` drops exactly what it names (unreadable payloads drop
//! everything), and a killed listener connection is noticed, the cache emptied, and the connection
//! made again.

use crate::support::{Hat, LISTENING, START, ShopUnderTest};

#[tokio::test]
async fn a_notification_refreshes_cached_pages() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3), Hat::new("2", "Bowler", 4)],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        shop.get("/hats/1").await.unwrap().text_of_id("stock"),
        Some("Only 3 left")
    );
    assert!(shop.get("/").await.unwrap().body.contains("Only 3 left"));

    // A change nobody announced is not seen: the page comes from the cache. (The bridge always
    // announces; this shows the cache is really in the path.)
    shop.set_on_hand_quietly("1", 2).await.unwrap();
    assert_eq!(
        shop.get("/hats/1").await.unwrap().text_of_id("stock"),
        Some("Only 3 left")
    );

    // Announced: product page and lists follow.
    shop.notify(r#"{"pos":"0-1-9","keys":["1"]}"#)
        .await
        .unwrap();
    shop.wait_for_page("/hats/1", "showing the new count", |p| {
        p.text_of_id("stock") == Some("Only 2 left")
    })
    .await
    .unwrap();
    shop.wait_for_page("/", "listing the new count", |p| {
        p.body.contains("Only 2 left")
    })
    .await
    .unwrap();

    // A notification for another key leaves this one cached...
    shop.set_on_hand_quietly("1", 1).await.unwrap();
    shop.set_on_hand("2", 5).await.unwrap();
    shop.wait_for_page("/hats/2", "showing Bowler's change", |p| {
        p.text_of_id("stock") == Some("Only 5 left")
    })
    .await
    .unwrap();
    assert_eq!(
        shop.get("/hats/1").await.unwrap().text_of_id("stock"),
        Some("Only 2 left")
    );
    // ...and an unreadable payload drops everything.
    shop.notify("not json at all").await.unwrap();
    shop.wait_for_page("/hats/1", "refreshed by a garbled payload", |p| {
        p.text_of_id("stock") == Some("Only 1 left")
    })
    .await
    .unwrap();

    // `{"all":true}` too, and it covers hats that are new or renamed.
    shop.insert(&Hat::new("3", "Propeller Beanie", 8))
        .await
        .unwrap();
    shop.notify(r#"{"all":true}"#).await.unwrap();
    shop.wait_for_page("/", "listing the new hat", |p| {
        p.body.contains("Propeller Beanie")
    })
    .await
    .unwrap();
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn a_killed_listener_reconnects_and_changes_still_arrive() {
    let mut shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 3)], &[])
        .await
        .unwrap();
    assert_eq!(
        shop.get("/hats/1").await.unwrap().text_of_id("stock"),
        Some("Only 3 left")
    );
    assert_eq!(
        shop.kill_listener().await.unwrap(),
        1,
        "one shared listener"
    );
    shop.process
        .wait_for_log(
            "stock listener lost its connection; cache emptied, reconnecting",
            START,
        )
        .await
        .unwrap();
    shop.process.wait_for_log(LISTENING, START).await.unwrap();
    assert_eq!(
        shop.kill_listener().await.unwrap(),
        1,
        "the listener is back, still one"
    );
    shop.process.wait_for_log(LISTENING, START).await.unwrap();

    // Cached again, then changed: the new connection hears it.
    assert_eq!(
        shop.get("/hats/1").await.unwrap().text_of_id("stock"),
        Some("Only 3 left")
    );
    shop.set_on_hand("1", 1).await.unwrap();
    shop.wait_for_page("/hats/1", "showing the change", |p| {
        p.text_of_id("stock") == Some("Only 1 left")
    })
    .await
    .unwrap();
    shop.finish().await.unwrap();
}
