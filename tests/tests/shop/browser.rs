//! Headless Chromium (the test stack's chromedriver): an open product page changes its stock line
//! by itself when stock changes; every catalogue page fits a 375 px phone without sideways scrolling.
//! Screenshots are kept as artifacts.

use crate::support::{EVENTUALLY, Hat, ShopUnderTest, eventually};
use tests::browser::Browser;

#[tokio::test]
async fn an_open_product_page_updates_itself() {
    let shop = ShopUnderTest::start(
        &[
            Hat::new("1", "Top Hat", 3),
            Hat::new("2", "Bowler", 40),
            Hat::new("3", "Jester Hat <script>alert(1)</script>", 0).category("Party & Novelty"),
        ],
        &[],
    )
    .await
    .unwrap();
    let browser = Browser::start(1280, 900).await.unwrap();
    browser.goto(&shop.url("/hats/1")).await.unwrap();
    let stock = || async {
        Ok::<_, anyhow::Error>(
            browser
                .eval("return document.getElementById('stock').textContent")
                .await?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    assert_eq!(stock().await.unwrap(), "Only 3 left");
    // The script has received its first event (the stream is open).
    eventually("the live stream connected", EVENTUALLY, || async {
        Ok(browser
            .eval("return document.documentElement.dataset.liveStock || ''")
            .await?
            == "on")
    })
    .await
    .unwrap();
    browser.screenshot("shop-product-1280").await.unwrap();

    shop.set_on_hand("1", 0).await.unwrap();
    eventually("the page showing Out of stock", EVENTUALLY, || async {
        Ok(stock().await? == "Out of stock")
    })
    .await
    .unwrap();
    let level = browser
        .eval("return document.getElementById('stock').dataset.level")
        .await
        .unwrap();
    assert_eq!(level, "out");
    browser.screenshot("shop-product-out-1280").await.unwrap();
    // The escaped name stayed text: no script of ours ran from it.
    browser.goto(&shop.url("/")).await.unwrap();
    let alerts = browser
        .eval("return document.querySelectorAll('h2').length")
        .await
        .unwrap();
    assert!(alerts.as_u64().unwrap_or(0) >= 3);
    browser.screenshot("shop-home-1280").await.unwrap();
    browser.quit().await.unwrap();

    let phone = Browser::start(375, 800).await.unwrap();
    for (path, name) in [
        ("/", "shop-home-375"),
        ("/hats/2", "shop-product-375"),
        ("/categories/party-novelty", "shop-category-375"),
        ("/search?q=hat", "shop-search-375"),
        ("/returns", "shop-returns-375"),
    ] {
        phone.goto(&shop.url(path)).await.unwrap();
        let overflow = phone
            .eval("return document.documentElement.scrollWidth - window.innerWidth")
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "{path}: horizontal scroll of {overflow}px at 375px"
        );
        phone.screenshot(name).await.unwrap();
    }
    phone.quit().await.unwrap();
    shop.finish().await.unwrap();
}
