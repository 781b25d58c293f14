//! Sessions and CSRF: created lazily (browsing makes none), the cookie's attributes, only a hash
//! stored, tampered cookies treated as none, the synchronizer token on every POST form, isolation
//! between visitors, the 413 page, HSTS behind https.

use crate::support::{Customer, Hat, ShopUnderTest, form_body};
use futures::StreamExt;

#[tokio::test]
async fn cookieless_browsing_creates_no_sessions() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 5), Hat::new("2", "Bowler", 0)],
        &[],
    )
    .await
    .unwrap();
    let paths = [
        "/",
        "/hats/1",
        "/hats/2",
        "/categories/classic-hats",
        "/search?q=hat",
        "/basket",
        "/contact",
        "/no-such-page",
    ];
    let results: Vec<(u16, bool, String)> = futures::stream::iter(0..1000)
        .map(|i| {
            let path = paths[i % paths.len()];
            let shop = &shop;
            async move {
                let page = shop.get(path).await.unwrap();
                (
                    page.status,
                    page.headers.contains_key("set-cookie"),
                    page.header("cache-control").to_owned(),
                )
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(results.len(), 1000);
    assert!(
        results.iter().all(|(_, cookie, _)| !cookie),
        "no Set-Cookie"
    );
    assert!(
        results
            .iter()
            .all(|(status, _, cc)| *status == 404 || cc == "no-cache"),
        "pages without a session are revalidated, not private"
    );
    assert_eq!(shop.count("sessions").await.unwrap(), 0);
    assert_eq!(shop.count("baskets").await.unwrap(), 0);
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_production_cookie_is_host_prefixed_secure_and_stored_hashed() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 5)],
        &[
            ("FUNNYHAT_HTTP__INSECURE_DEV_COOKIES", "false"),
            ("FUNNYHAT_HTTP__PUBLIC_URL", "https://shop.example"),
        ],
    )
    .await
    .unwrap();
    let mut grace = Customer::new(&shop);
    let home = grace.get("/").await.unwrap();
    assert_eq!(
        home.header("strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
    grace.add("1", 1).await.unwrap();
    let set = &grace.set_cookies[0];
    let (pair, attributes) = set.split_once(';').unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(name, "__Host-funnyhat-session");
    assert_eq!(value.len(), 43, "256 random bits, base64url");
    let attributes: Vec<&str> = attributes.split(';').map(str::trim).collect();
    for wanted in [
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Max-Age=2592000",
    ] {
        assert!(attributes.contains(&wanted), "{wanted} in {set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    // Only the hash is stored: the cookie's value is nowhere in the table.
    let pool = shop.db.connect("migrator").await.unwrap();
    let (hashed, raw): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE id_hash = sha256(convert_to($1, 'UTF8'))), \
                count(*) FILTER (WHERE position(convert_to($1, 'UTF8') IN id_hash) > 0 OR csrf_token = $1) \
         FROM shop.sessions",
    )
    .bind(value)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!((hashed, raw), (1, 0));
    let basket = grace.get("/basket").await.unwrap();
    assert_eq!(basket.basket_count(), Some(1));
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_dev_cookie_has_no_secure_flag_and_no_hsts() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 5)], &[])
        .await
        .unwrap();
    let mut hal = Customer::new(&shop);
    let home = hal.get("/").await.unwrap();
    assert_eq!(home.header("strict-transport-security"), "");
    hal.add("1", 1).await.unwrap();
    let set = &hal.set_cookies[0];
    assert!(set.starts_with("funnyhat-session="), "{set}");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
    assert!(!set.contains("Secure"), "{set}");
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn missing_or_forged_csrf_tokens_get_403_and_change_nothing() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 5)], &[])
        .await
        .unwrap();
    let mut ivy = Customer::new(&shop);
    ivy.add("1", 2).await.unwrap();
    for form in [
        vec![("item_key", "1"), ("quantity", "5")],
        vec![("item_key", "1"), ("quantity", "5"), ("csrf", "forged")],
        vec![("item_key", "1"), ("quantity", "5"), ("csrf", "")],
    ] {
        for path in ["/basket/update", "/basket/add", "/basket/remove"] {
            let answer = ivy.post(path, &form).await.unwrap();
            assert_eq!(answer.status, 403, "{path} {form:?}");
            assert!(
                answer
                    .body
                    .contains("This form has expired or did not come from our site")
            );
            assert_eq!(answer.header("cache-control"), "private, no-store");
        }
    }
    // Another visitor's token is no better than a forged one.
    let mut jay = Customer::new(&shop);
    let jays = jay.add("1", 1).await.unwrap().csrf().to_owned();
    let answer = ivy
        .post(
            "/basket/update",
            &[("item_key", "1"), ("quantity", "5"), ("csrf", &jays)],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 403);
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 2), ("1".to_owned(), 1)]
    );

    // Without a session, a form from another site is refused too (and makes no session).
    let before = shop.count("sessions").await.unwrap();
    let answer = shop
        .http
        .post(shop.url("/basket/add"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(form_body(&[("item_key", "1"), ("quantity", "1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    assert!(answer.headers().get("set-cookie").is_none());
    assert_eq!(shop.count("sessions").await.unwrap(), before);
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn a_tampered_or_unknown_cookie_is_no_session() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 5)], &[])
        .await
        .unwrap();
    let mut kim = Customer::new(&shop);
    kim.add("1", 3).await.unwrap();
    let real = kim.cookie.clone().unwrap();
    let mut flipped = real.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    for cookie in [
        flipped,
        "funnyhat-session=short".to_owned(),
        "funnyhat-session=".to_owned(),
        format!("{real}x"),
    ] {
        let mut mallory = Customer::new(&shop);
        mallory.cookie = Some(cookie.clone());
        let basket = mallory.get("/basket").await.unwrap();
        assert_eq!(basket.status, 200, "{cookie}");
        assert!(basket.body.contains("Your basket is empty."), "{cookie}");
        assert_eq!(basket.basket_count(), Some(0));
        assert_eq!(basket.csrf(), "");
        assert!(!basket.headers.contains_key("set-cookie"));
    }
    let basket = kim.get("/basket").await.unwrap();
    assert_eq!(basket.basket_count(), Some(3));
    assert_eq!(shop.count("sessions").await.unwrap(), 1);
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn one_visitors_page_never_shows_anothers_session() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 9)], &[])
        .await
        .unwrap();
    let mut ann = Customer::new(&shop);
    let basket = ann.add("1", 3).await.unwrap();
    let anns_token = basket.csrf().to_owned();
    assert_eq!(anns_token.len(), 43);
    let anns_cookie = ann.cookie.clone().unwrap();
    let anns_value = anns_cookie.split_once('=').unwrap().1.to_owned();

    let mut ben = Customer::new(&shop);
    ben.add("1", 1).await.unwrap();
    for path in ["/", "/hats/1", "/basket", "/contact"] {
        for page in [shop.get(path).await.unwrap(), ben.get(path).await.unwrap()] {
            assert!(!page.body.contains(&anns_token), "{path}");
            assert!(!page.body.contains(&anns_value), "{path}");
            assert_ne!(page.basket_count(), Some(3), "{path}");
        }
    }
    assert_eq!(ben.get("/basket").await.unwrap().basket_count(), Some(1));
    // The token is stable within a session, and never in the cookie.
    assert_eq!(ann.get("/hats/1").await.unwrap().csrf(), anns_token);
    assert_ne!(anns_token, anns_value);
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn an_oversized_form_gets_the_413_page() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 5)], &[])
        .await
        .unwrap();
    let big = "x".repeat(20 * 1024);
    let mut lee = Customer::new(&shop);
    let answer = lee
        .post("/basket/add", &[("item_key", "1"), ("padding", &big)])
        .await
        .unwrap();
    assert_eq!(answer.status, 413);
    assert!(answer.header("content-type").starts_with("text/html"));
    assert!(
        answer.body.contains("That form was too large"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("The Funny Hat Shop"));
    assert_eq!(shop.count("sessions").await.unwrap(), 0);
    // A form that is not one (a quantity that is not a number) is a page too, not a bare 4xx.
    let answer = lee
        .post("/basket/add", &[("item_key", "1"), ("quantity", "lots")])
        .await
        .unwrap();
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("we could not understand that form"));
    let answer = lee.post("/basket/add", &[("quantity", "1")]).await.unwrap();
    assert_eq!(answer.status, 422);
    assert!(answer.body.contains("we could not understand that request"));
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn names_from_the_replica_are_escaped_on_the_basket_page() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "<script>alert(1)</script> Hat", 5)], &[])
        .await
        .unwrap();
    let mut max = Customer::new(&shop);
    let basket = max.add("1", 1).await.unwrap();
    assert!(!basket.body.contains("<script>alert(1)"));
    assert!(
        basket
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62; Hat")
            || basket
                .body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; Hat"),
        "{}",
        basket.body
    );
    shop.finish().await.unwrap();
}

/// Page views with a session are answered from the shop's memory (its metric counts the hits),
/// and whatever changes a session elsewhere — another shop process, a job, an operator in psql —
/// shows on the next page once PostgreSQL's notification arrives. The cache's time to live is set
/// to an hour, so only the notifications can make these pages change.
#[tokio::test]
async fn cached_sessions_follow_changes_made_elsewhere() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 9), Hat::new("2", "Bowler", 9)],
        &[("FUNNYHAT_HTTP__SESSION_CACHE_SECS", "3600")],
    )
    .await
    .unwrap();
    let mut kim = Customer::new(&shop);
    let after_add = kim.add("1", 1).await.unwrap();
    assert_eq!(
        after_add.basket_count(),
        Some(1),
        "a form's outcome at once"
    );
    let hits_before = shop
        .metric(r#"shop_session_cache_total{outcome="hit"}"#)
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(kim.get("/").await.unwrap().basket_count(), Some(1));
    }
    let hits = shop
        .metric(r#"shop_session_cache_total{outcome="hit"}"#)
        .await
        .unwrap();
    assert!(
        hits >= hits_before + 2.0,
        "served from memory: {hits_before} → {hits}"
    );

    shop.exec("UPDATE shop.basket_lines SET quantity = 3")
        .await
        .unwrap();
    kim.wait_for_page("/", "3 in the basket", |p| p.basket_count() == Some(3))
        .await
        .unwrap();
    shop.exec(
        "INSERT INTO shop.basket_lines (basket_id, item_key, quantity, price_minor_added, currency_added) \
         SELECT basket_id, '2', 2, 1000, 'GBP' FROM shop.baskets",
    )
    .await
    .unwrap();
    kim.wait_for_page("/", "5 in the basket", |p| p.basket_count() == Some(5))
        .await
        .unwrap();
    shop.exec("DELETE FROM shop.basket_lines WHERE item_key = '1'")
        .await
        .unwrap();
    kim.wait_for_page("/", "2 in the basket", |p| p.basket_count() == Some(2))
        .await
        .unwrap();
    // A form post after those changes sees them too (it reads the database).
    let after_second_add = kim.add("1", 1).await.unwrap();
    assert_eq!(after_second_add.basket_count(), Some(3));

    let mut lou = Customer::new(&shop);
    let welcome = lou
        .register("lou", "lou@example.com", "a-very-funny-hat-42")
        .await
        .unwrap();
    assert!(
        welcome.status == 200 || welcome.status == 303,
        "{}",
        welcome.body
    );
    let signed_in = lou.get("/").await.unwrap();
    assert_eq!(signed_in.text_of_id("signed-in-as"), Some("Hello, lou"));
    shop.exec("UPDATE shop.sessions SET account_id = NULL WHERE account_id IS NOT NULL")
        .await
        .unwrap();
    lou.wait_for_page("/", "signed out", |p| {
        p.text_of_id("signed-in-as").is_none() && p.body.contains("Log in")
    })
    .await
    .unwrap();

    // The session ended elsewhere (as the cleanup job or a password change does): the cookie
    // names nothing, so the visitor is a stranger again with an empty basket and no form token.
    shop.exec("DELETE FROM shop.sessions").await.unwrap();
    let stranger = kim
        .wait_for_page("/hats/1", "without a session", |p| {
            p.basket_count() == Some(0)
        })
        .await
        .unwrap();
    assert_eq!(stranger.csrf(), "", "no token of a session that is gone");
    assert_eq!(
        shop.count("sessions").await.unwrap(),
        0,
        "a page view made none"
    );
    shop.finish().await.unwrap();
}

/// The shared listener's connection ended from the server side while a customer browses: what
/// changed meanwhile (when no notification could arrive) still shows, because the shop empties and
/// bypasses its session cache until it listens again.
#[tokio::test]
async fn cached_sessions_follow_changes_made_while_the_listener_was_gone() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 9)],
        &[("FUNNYHAT_HTTP__SESSION_CACHE_SECS", "3600")],
    )
    .await
    .unwrap();
    let mut kim = Customer::new(&shop);
    kim.add("1", 1).await.unwrap();
    assert_eq!(kim.get("/").await.unwrap().basket_count(), Some(1));
    assert_eq!(kim.get("/").await.unwrap().basket_count(), Some(1));
    assert_eq!(shop.kill_listener().await.unwrap(), 1);
    shop.exec("UPDATE shop.basket_lines SET quantity = 4")
        .await
        .unwrap();
    kim.wait_for_page("/", "4 in the basket", |p| p.basket_count() == Some(4))
        .await
        .unwrap();
    // Listening again, the cache is in use again and still follows changes.
    crate::support::eventually("listening again", crate::support::EVENTUALLY, || async {
        Ok(
            shop.metric("shop_stock_listener_reconnects_total").await? >= 1.0
                && shop.metric("shop_stock_listener_connected").await? == 1.0,
        )
    })
    .await
    .unwrap();
    let hit = r#"shop_session_cache_total{outcome="hit"}"#;
    let hits_before = shop.metric(hit).await.unwrap();
    for _ in 0..3 {
        assert_eq!(kim.get("/").await.unwrap().basket_count(), Some(4));
    }
    assert!(
        shop.metric(hit).await.unwrap() >= hits_before + 2.0,
        "in use again"
    );
    shop.exec("UPDATE shop.basket_lines SET quantity = 2")
        .await
        .unwrap();
    kim.wait_for_page("/", "2 in the basket", |p| p.basket_count() == Some(2))
        .await
        .unwrap();
    shop.finish().await.unwrap();
}
