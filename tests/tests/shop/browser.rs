//! Headless Chromium (the test stack's chromedriver): an open product page changes its stock line
//! by itself when stock changes; every catalogue page fits a 375 px phone without sideways scrolling.
//! A new customer adds hats, registers and keeps the basket; logged out, she comes back with
//! "Continue with Google", proves her password once to link it, and after that Google alone logs
//! her in. Screenshots are kept as artifacts.

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
        assert_fits(&phone, path, 375).await;
        phone.screenshot(name).await.unwrap();
    }
    phone.quit().await.unwrap();
    shop.finish().await.unwrap();
}

/// A new customer adds two hats without an account, registers, and finds both in the basket; then
/// logs out and back in with Google (the stack's fake provider), linking it to the account with her
/// password; the account pages fit a phone. No JavaScript is needed for any of it (the forms are
/// plain POSTs, the provider's round trip is redirects).
#[tokio::test]
async fn add_two_hats_then_register_and_the_basket_is_kept() {
    let shop = crate::oauth::start_shop(
        &[Hat::new("1", "Top Hat", 3), Hat::new("2", "Bowler", 40)],
        crate::oauth::With::Both,
    )
    .await;
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

    // Logged out, Zoe comes back with "Continue with Google". Her Google account has the same
    // email, so she proves her password once and the two are linked.
    let control = crate::oauth::take_providers().await;
    crate::oauth::control(
        "/google/users",
        serde_json::json!({"sub": "google-zoe", "email": "zoe@example.test",
                           "email_verified": true, "name": "Zoe Example"}),
    )
    .await;
    let hello = || async {
        Ok::<_, anyhow::Error>(
            browser
                .eval("return (document.getElementById('signed-in-as') || {}).textContent || ''")
                .await?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let click = |id: &'static str| {
        let browser = &browser;
        async move {
            browser
                .eval(&format!(
                    "document.getElementById('{id}').click(); return true"
                ))
                .await
        }
    };
    click("logout").await.unwrap();
    eventually("logged out", EVENTUALLY, || async {
        Ok(hello().await?.is_empty())
    })
    .await
    .unwrap();
    browser.goto(&shop.url("/login")).await.unwrap();
    browser
        .screenshot("shop-login-providers-1280")
        .await
        .unwrap();
    click("continue-with-google").await.unwrap();
    eventually("on the link page", EVENTUALLY, at("/login/link"))
        .await
        .unwrap();
    browser.screenshot("shop-login-link-1280").await.unwrap();
    browser
        .eval(
            "document.getElementById('link-username').value = 'zoe';\
             document.getElementById('link-password').value = 'a-very-funny-hat-42';\
             document.getElementById('link-submit').click(); return true",
        )
        .await
        .unwrap();
    eventually("logged in as Zoe", EVENTUALLY, || async {
        Ok(hello().await? == "Hello, zoe")
    })
    .await
    .unwrap();
    assert_eq!(count().await.unwrap(), "2", "her basket");
    // From now on Google alone logs her in.
    click("logout").await.unwrap();
    eventually("logged out", EVENTUALLY, || async {
        Ok(hello().await?.is_empty())
    })
    .await
    .unwrap();
    browser.goto(&shop.url("/register")).await.unwrap();
    click("continue-with-google").await.unwrap();
    eventually("logged in as Zoe again", EVENTUALLY, || async {
        Ok(hello().await? == "Hello, zoe")
    })
    .await
    .unwrap();
    browser.screenshot("shop-google-login-1280").await.unwrap();
    crate::oauth::control("/reset", serde_json::json!({})).await;
    drop(control);
    browser.quit().await.unwrap();

    let phone = Browser::start(375, 800).await.unwrap();
    for (path, name) in [
        ("/login", "shop-login-375"),
        ("/register", "shop-register-375"),
        ("/basket", "shop-basket-375"),
    ] {
        phone.goto(&shop.url(path)).await.unwrap();
        assert_fits(&phone, path, 375).await;
        phone.screenshot(name).await.unwrap();
    }
    phone.quit().await.unwrap();
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 1), ("2".to_owned(), 1)]
    );
    shop.finish().await.unwrap();
}

/// The open page fits the window: it does not scroll sideways.
async fn assert_fits(browser: &Browser, path: &str, width: u32) {
    let overflow = browser
        .eval("return document.documentElement.scrollWidth - window.innerWidth")
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "{path}: horizontal scroll of {overflow}px at {width}px"
    );
}

/// Loads every lazy picture on the open page and waits until all of them have arrived.
pub async fn load_every_picture(browser: &Browser) {
    browser
        .eval("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager');")
        .await
        .unwrap();
    eventually("every picture on the page loaded", EVENTUALLY, || async {
        Ok(browser
            .eval(
                "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);",
            )
            .await?
            == true)
    })
    .await
    .unwrap();
}

/// The screenshots in `docs/screenshots/` (the `demo-*` set): the stack's demo shop, with the
/// pictures the stack's bridge made from the demo data, at 1280 px and at 375 px, every page
/// without sideways scrolling. Kept as artifacts; copying them into the docs is a person's choice.
#[tokio::test]
async fn screenshots_of_the_demo_shop() {
    let db = sqlx::PgPool::connect(&tests::stack::env("SHOP_DATABASE_URL"))
        .await
        .unwrap();
    crate::support::demo_pictures_made(&db).await;
    // Two hats in stock to put in the basket: other tests' stock-staff simulator moves the demo's
    // quantities, so they are chosen now (demo hats 4 and 2 when they can be sold).
    let in_stock: Vec<String> = sqlx::query_scalar(
        "SELECT item_key FROM stock.stock_available WHERE sellable AND available >= 3
         ORDER BY item_key NOT IN ('4', '2'), item_key DESC LIMIT 2",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(in_stock.len(), 2, "two demo hats in stock");
    db.close().await;
    let shop = tests::stack::env("SHOP_URL");
    for (width, height, max_height) in [(1280, 900, 2000), (375, 800, 2400)] {
        let browser = Browser::start(width, height).await.unwrap();
        let shoot = |path: String, name: &'static str| {
            let browser = &browser;
            async move {
                browser.goto(&path).await.unwrap();
                load_every_picture(browser).await;
                let inner = browser.eval("return window.innerWidth").await.unwrap();
                assert_eq!(inner, width, "{path}: the page's width");
                assert_fits(browser, &path, width).await;
                browser
                    .screenshot_full_page(&format!("demo-{name}-{width}"), max_height)
                    .await
                    .unwrap();
            }
        };
        shoot(format!("{shop}/"), "home").await;
        shoot(format!("{shop}/categories/classic-hats"), "category").await;
        shoot(format!("{shop}/hats/4"), "product").await;
        for key in &in_stock {
            browser.goto(&format!("{shop}/hats/{key}")).await.unwrap();
            browser.click("#add-to-basket").await.unwrap();
            eventually("on the basket page", EVENTUALLY, || async {
                Ok(browser.url().await?.ends_with("/basket?notice=added"))
            })
            .await
            .unwrap();
        }
        shoot(format!("{shop}/basket"), "basket").await;
        shoot(format!("{shop}/login"), "login").await;
        shoot(format!("{shop}/register"), "register").await;
        shoot(format!("{shop}/no-such-page"), "not-found").await;
        browser.quit().await.unwrap();
    }
}
