//! Headless Chromium (the test stack's chromedriver): an open product page changes its stock line
//! by itself when stock changes; every catalogue page fits a 375 px phone without sideways scrolling.
//! A new customer adds hats, registers and keeps the basket. Screenshots are kept as artifacts.

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

/// A new customer adds two hats without an account, registers, and finds both in the basket; the
/// account pages fit a phone. No JavaScript is needed for any of it (the forms are plain POSTs).
#[tokio::test]
async fn add_two_hats_then_register_and_the_basket_is_kept() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3), Hat::new("2", "Bowler", 40)],
        &[],
    )
    .await
    .unwrap();
    let browser = Browser::start(1280, 900).await.unwrap();
    let count = || async {
        Ok::<_, anyhow::Error>(
            browser
                .eval("return (document.getElementById('basket-count') || {}).textContent || ''")
                .await?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let at = |path: &'static str| {
        let browser = &browser;
        move || async move {
            Ok(browser
                .eval("return location.pathname + '|' + document.readyState")
                .await?
                == format!("{path}|complete").as_str())
        }
    };
    for (key, expected) in [("1", "1"), ("2", "2")] {
        browser
            .goto(&shop.url(&format!("/hats/{key}")))
            .await
            .unwrap();
        browser
            .eval("document.getElementById('add-to-basket').click(); return true")
            .await
            .unwrap();
        eventually("on the basket page", EVENTUALLY, at("/basket"))
            .await
            .unwrap();
        assert_eq!(count().await.unwrap(), expected);
    }
    browser.screenshot("shop-basket-1280").await.unwrap();
    // The open basket page follows stock: a line's flag appears and goes by itself.
    eventually("the basket stream connected", EVENTUALLY, || async {
        Ok(browser
            .eval("return document.documentElement.dataset.liveBasket || ''")
            .await?
            == "on")
    })
    .await
    .unwrap();
    let flag = || async {
        Ok::<_, anyhow::Error>(
            browser
                .eval("return document.querySelector('[data-flag-for=\"1\"]').textContent")
                .await?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    shop.set_on_hand("1", 0).await.unwrap();
    eventually("the line flagged out of stock", EVENTUALLY, || async {
        Ok(flag().await?.starts_with("Out of stock now"))
    })
    .await
    .unwrap();
    browser
        .screenshot("shop-basket-flagged-1280")
        .await
        .unwrap();
    shop.set_on_hand("1", 3).await.unwrap();
    eventually("the flag gone again", EVENTUALLY, || async {
        Ok(flag().await?.is_empty())
    })
    .await
    .unwrap();

    browser.goto(&shop.url("/register")).await.unwrap();
    browser.screenshot("shop-register-1280").await.unwrap();
    browser
        .eval(
            "document.getElementById('reg-username').value = 'zoe';\
             document.getElementById('reg-email').value = 'zoe@example.test';\
             document.getElementById('reg-password').value = 'a-very-funny-hat-42';\
             document.getElementById('register-submit').click(); return true",
        )
        .await
        .unwrap();
    eventually("on the welcome page", EVENTUALLY, at("/register"))
        .await
        .unwrap();
    let notes = browser
        .eval("return document.getElementById('merge-notes').textContent")
        .await
        .unwrap();
    let notes = notes.as_str().unwrap_or_default();
    assert!(
        notes.contains("Top Hat") && notes.contains("Bowler"),
        "{notes}"
    );
    browser.screenshot("shop-welcome-1280").await.unwrap();
    browser.goto(&shop.url("/basket")).await.unwrap();
    assert_eq!(count().await.unwrap(), "2");
    let hello = browser
        .eval("return document.getElementById('signed-in-as').textContent")
        .await
        .unwrap();
    assert_eq!(hello, "Hello, zoe");
    browser
        .screenshot("shop-basket-account-1280")
        .await
        .unwrap();
    browser.quit().await.unwrap();

    let phone = Browser::start(375, 800).await.unwrap();
    for (path, name) in [
        ("/login", "shop-login-375"),
        ("/register", "shop-register-375"),
        ("/basket", "shop-basket-375"),
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
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 1), ("2".to_owned(), 1)]
    );
    shop.finish().await.unwrap();
}
