//! The customer journey in headless Chromium with JavaScript switched off: every step is a plain
//! form POST or a link. A new customer adds two hats, registers and finds them in her basket, logs
//! out, logs back in with her username and password and still has them. The pages are driven with
//! WebDriver's own commands (type, click), never with a script in the page.

use crate::support::{EVENTUALLY, Hat, ShopUnderTest, eventually};
use tests::browser::Browser;

/// Waits until the browser is at `path` (after the form's POST and its redirect).
async fn wait_at(browser: &Browser, path: &str) {
    eventually(&format!("at {path}"), EVENTUALLY, || async {
        let url = browser.url().await?;
        Ok(url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .is_some_and(|p| p.split(['?', '#']).next() == Some(path)))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn without_javascript_add_two_hats_register_log_out_and_log_in() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3), Hat::new("2", "Bowler", 40)],
        &[],
    )
    .await
    .unwrap();
    let browser = Browser::start_without_javascript(1280, 900).await.unwrap();

    // JavaScript is really off: Chromium parses the product page's <noscript> as markup only when
    // scripting is disabled (with it on, its content is one text node), and the live-stock script
    // never marks the page.
    browser.goto(&shop.url("/hats/1")).await.unwrap();
    assert!(browser.has("noscript #stock-note").await.unwrap());
    assert_eq!(
        browser.attribute("html", "data-live-stock").await.unwrap(),
        None
    );
    assert_eq!(browser.text("#stock").await.unwrap(), "Only 3 left");

    for (key, count) in [("1", "1"), ("2", "2")] {
        browser
            .goto(&shop.url(&format!("/hats/{key}")))
            .await
            .unwrap();
        browser.click("#add-to-basket").await.unwrap();
        wait_at(&browser, "/basket").await;
        assert_eq!(browser.text("#basket-count").await.unwrap(), count);
    }
    let basket = browser.text("#basket").await.unwrap();
    assert!(
        basket.contains("Top Hat") && basket.contains("Bowler"),
        "{basket}"
    );
    assert_eq!(shop.count("sessions").await.unwrap(), 1);
    browser.screenshot("shop-nojs-basket-1280").await.unwrap();

    browser.click("a[href='/register']").await.unwrap();
    wait_at(&browser, "/register").await;
    browser.fill("#reg-username", "noor").await.unwrap();
    browser
        .fill("#reg-email", "noor@example.test")
        .await
        .unwrap();
    browser
        .fill("#reg-password", "a-very-quiet-hat-7")
        .await
        .unwrap();
    browser.click("#register-submit").await.unwrap();
    eventually("welcomed", EVENTUALLY, || async {
        browser.has("#merge-notes").await
    })
    .await
    .unwrap();
    let notes = browser.text("#merge-notes").await.unwrap();
    assert!(
        notes.contains("Top Hat") && notes.contains("Bowler"),
        "{notes}"
    );
    assert_eq!(browser.text("#signed-in-as").await.unwrap(), "Hello, noor");
    browser.screenshot("shop-nojs-welcome-1280").await.unwrap();

    browser.click("a[href='/basket']").await.unwrap();
    wait_at(&browser, "/basket").await;
    assert_eq!(browser.text("#basket-count").await.unwrap(), "2");

    // Log out: a POST with its CSRF token, from the header's button.
    browser.click("#logout").await.unwrap();
    eventually("logged out", EVENTUALLY, || async {
        Ok(!browser.has("#signed-in-as").await?)
    })
    .await
    .unwrap();
    assert_eq!(browser.text("#basket-count").await.unwrap(), "0");

    browser.click("a[href='/login']").await.unwrap();
    wait_at(&browser, "/login").await;
    browser.fill("#login-username", "noor").await.unwrap();
    browser
        .fill("#login-password", "a-very-quiet-hat-7")
        .await
        .unwrap();
    browser.click("#login-submit").await.unwrap();
    eventually("logged in as Noor", EVENTUALLY, || async {
        Ok(browser.has("#signed-in-as").await?
            && browser.text("#signed-in-as").await? == "Hello, noor")
    })
    .await
    .unwrap();
    browser.goto(&shop.url("/basket")).await.unwrap();
    assert_eq!(browser.text("#basket-count").await.unwrap(), "2");
    browser
        .screenshot("shop-nojs-basket-account-1280")
        .await
        .unwrap();
    // Still no script ran on any of these pages.
    browser.goto(&shop.url("/hats/2")).await.unwrap();
    assert!(browser.has("noscript #stock-note").await.unwrap());
    assert_eq!(
        browser.attribute("html", "data-live-stock").await.unwrap(),
        None
    );
    browser.quit().await.unwrap();

    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 1), ("2".to_owned(), 1)]
    );
    shop.finish().await.unwrap();
}
