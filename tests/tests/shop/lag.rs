//! The lag guard: past the soft limit exact low counts give way to "Low stock"; past the hard limit
//! (or with no finished snapshot) a banner says stock is being refreshed. Staleness is moved by
//! setting the checkpoint's `caught_up_at` in the past, as a stalled bridge would leave it.

use crate::support::{Hat, ShopUnderTest};

#[tokio::test]
async fn stale_stock_loses_exact_counts_then_shows_the_banner() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3), Hat::new("2", "Bowler", 50)],
        &[],
    )
    .await
    .unwrap();
    let page = shop.get("/hats/1").await.unwrap();
    assert_eq!(page.text_of_id("stock"), Some("Only 3 left"));
    assert!(!page.banner_shown());

    // Past the soft limit (default 30 s): no exact low count, no banner yet.
    shop.caught_up_secs_ago(45).await.unwrap();
    let page = shop
        .wait_for_page("/hats/1", "saying Low stock", |p| {
            p.text_of_id("stock") == Some("Low stock")
        })
        .await
        .unwrap();
    assert!(!page.banner_shown());
    assert!(!page.body.contains("Only 3 left"));
    let home = shop.get("/").await.unwrap();
    assert!(home.body.contains("Low stock") && !home.body.contains("Only 3 left"));
    assert!(home.body.contains("In stock"), "plenty is still plenty");

    // Past the hard limit (default 120 s): the banner, on every catalogue page.
    shop.caught_up_secs_ago(600).await.unwrap();
    shop.wait_for_page("/hats/1", "showing the banner", |p| p.banner_shown())
        .await
        .unwrap();
    for path in ["/", "/categories/classic-hats", "/search?q=hat"] {
        assert!(shop.get(path).await.unwrap().banner_shown(), "{path}");
    }

    // Caught up again: back to normal.
    shop.caught_up_secs_ago(0).await.unwrap();
    let page = shop
        .wait_for_page("/hats/1", "back to an exact count", |p| {
            p.text_of_id("stock") == Some("Only 3 left")
        })
        .await
        .unwrap();
    assert!(!page.banner_shown());
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn a_snapshot_in_progress_counts_as_past_the_hard_limit() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 2)], &[])
        .await
        .unwrap();
    sqlx::query("UPDATE stock.checkpoint SET snapshot_done = false")
        .execute(&shop.bridge)
        .await
        .unwrap();
    let page = shop
        .wait_for_page("/hats/1", "showing the banner", |p| p.banner_shown())
        .await
        .unwrap();
    assert_eq!(page.text_of_id("stock"), Some("Low stock"));

    // No checkpoint at all: the same.
    sqlx::query("DELETE FROM stock.checkpoint")
        .execute(&shop.bridge)
        .await
        .unwrap();
    let page = shop.get("/").await.unwrap();
    assert!(page.banner_shown());
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_limits_are_settings() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3)],
        &[
            ("FUNNYHAT_STOCK__SOFT_LIMIT_SECS", "300"),
            ("FUNNYHAT_STOCK__HARD_LIMIT_SECS", "900"),
            ("FUNNYHAT_CATALOGUE__LOW_STOCK_THRESHOLD", "2"),
        ],
    )
    .await
    .unwrap();
    shop.caught_up_secs_ago(200).await.unwrap();
    let page = shop.get("/hats/1").await.unwrap();
    assert_eq!(
        page.text_of_id("stock"),
        Some("In stock"),
        "3 is above a threshold of 2"
    );
    shop.set_on_hand("1", 2).await.unwrap();
    let page = shop
        .wait_for_page("/hats/1", "an exact count within the soft limit", |p| {
            p.text_of_id("stock") == Some("Only 2 left")
        })
        .await
        .unwrap();
    assert!(!page.banner_shown());
    shop.finish().await.unwrap();
}
