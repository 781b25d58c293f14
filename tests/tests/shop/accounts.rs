//! Password accounts: register, log in, log out; the session id rotated at sign-in; the anonymous
//! basket merged into the account's in one transaction (summed, capped, described, never doubled);
//! the same words for an unknown user and a wrong password; rate limits with backoff; `?next=`
//! local only; the register form's rules and escaping.

use crate::support::{Customer, Hat, ShopUnderTest, eventually};
use std::time::Duration;

const PASSWORD: &str = "a-very-funny-hat-42";

async fn stored(shop: &ShopUnderTest, sql: &str) -> String {
    let pool = shop.db.connect("migrator").await.unwrap();
    let v: String = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    v
}

#[tokio::test]
async fn register_logout_login_keeps_the_basket_and_rotates_the_session() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 5), Hat::new("2", "Bowler", 5)],
        &[],
    )
    .await
    .unwrap();
    let mut ann = Customer::new(&shop);
    ann.add("1", 2).await.unwrap();
    ann.add("2", 1).await.unwrap();
    let anonymous_cookie = ann.cookie.clone().unwrap();

    let welcome = ann
        .register("Ann", "  Ann@Example.COM ", PASSWORD)
        .await
        .unwrap();
    assert_eq!(welcome.status, 200, "{}", welcome.body);
    assert!(welcome.body.contains("Welcome, ann"));
    assert!(
        welcome
            .body
            .contains("Top Hat</strong>: 2 added from this visit"),
        "{}",
        welcome.body
    );
    assert!(
        welcome
            .body
            .contains("Bowler</strong>: 1 added from this visit")
    );
    assert_eq!(welcome.header("cache-control"), "private, no-store");
    let account_cookie = ann.cookie.clone().unwrap();
    assert_ne!(account_cookie, anonymous_cookie, "the session id rotates");
    assert_eq!(
        shop.count("sessions").await.unwrap(),
        1,
        "the old session is gone"
    );
    assert_eq!(
        shop.count("baskets").await.unwrap(),
        1,
        "the anonymous basket was consumed"
    );
    assert_eq!(
        stored(&shop, "SELECT email FROM shop.accounts").await,
        "Ann@example.com"
    );
    assert!(
        stored(&shop, "SELECT password_hash FROM shop.accounts")
            .await
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    // The old cookie is worth nothing now.
    let mut thief = Customer::new(&shop);
    thief.cookie = Some(anonymous_cookie);
    assert!(
        thief
            .get("/basket")
            .await
            .unwrap()
            .body
            .contains("Your basket is empty.")
    );

    let basket = ann.get("/basket").await.unwrap();
    assert_eq!(basket.text_of_id("signed-in-as"), Some("Hello, ann"));
    assert_eq!(basket.basket_count(), Some(3));

    let bye = ann.logout().await.unwrap();
    assert_eq!(bye.status, 303);
    assert_eq!(bye.header("location"), "/");
    assert!(ann.set_cookies.last().unwrap().contains("Max-Age=0"));
    assert_eq!(
        shop.count("sessions").await.unwrap(),
        0,
        "logout destroys the session"
    );
    let mut after = Customer::new(&shop);
    after.cookie = Some(account_cookie);
    let page = after.get("/").await.unwrap();
    assert_eq!(page.text_of_id("signed-in-as"), None);
    assert_eq!(page.basket_count(), Some(0));

    let mut again = Customer::new(&shop);
    let back = again.login("ANN", PASSWORD, "/basket").await.unwrap();
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.header("location"), "/basket");
    let basket = again.get("/basket").await.unwrap();
    assert_eq!(basket.basket_count(), Some(3));
    assert!(basket.body.contains("Top Hat") && basket.body.contains("Bowler"));

    // And across a restart of the shop process (a second process on the same database).
    let mut second = tests::stack::Running::spawn(
        "shop",
        &["serve"],
        &[
            ("FUNNYHAT_HTTP__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_HTTP__PUBLIC_URL", "http://127.0.0.1"),
            ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_DATABASE__URL", &shop.db.url("shop")),
            (
                "FUNNYHAT_MEDIA__BASE_URL",
                &tests::stack::env("MEDIA_BASE_URL"),
            ),
            ("FUNNYHAT_LOG__FORMAT", "json"),
            ("FUNNYHAT_HTTP__INSECURE_DEV_COOKIES", "true"),
        ],
    )
    .unwrap();
    let listening = second
        .wait_for_log("shop listening", Duration::from_secs(30))
        .await
        .unwrap();
    let base = format!("http://{}", listening["public"].as_str().unwrap());
    let page = reqwest::Client::new()
        .get(format!("{base}/basket"))
        .header("cookie", again.cookie.clone().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Hello, ann") && page.contains("Bowler"));
    second.terminate(Duration::from_secs(10)).await.unwrap();
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_merge_sums_caps_and_says_what_changed() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 4), Hat::new("2", "Bowler", 5)],
        &[],
    )
    .await
    .unwrap();
    let mut bea = Customer::new(&shop);
    bea.register("bea", "bea@example.test", PASSWORD)
        .await
        .unwrap();
    bea.add("1", 2).await.unwrap();
    bea.logout().await.unwrap();

    let mut visit = Customer::new(&shop);
    visit.add("1", 3).await.unwrap();
    visit.add("2", 1).await.unwrap();
    let welcome = visit.login("bea", PASSWORD, "/").await.unwrap();
    assert_eq!(welcome.status, 200, "{}", welcome.body);
    assert!(
        welcome.body.contains(
            "Top Hat</strong>: 2 already in your basket + 3 from this visit = 4 (only 4 available)"
        ),
        "{}",
        welcome.body
    );
    assert!(
        welcome
            .body
            .contains("Bowler</strong>: 1 added from this visit")
    );
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 4), ("2".to_owned(), 1)]
    );
    assert_eq!(shop.count("baskets").await.unwrap(), 1);
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn a_double_submitted_login_never_doubles_quantities() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 9)], &[])
        .await
        .unwrap();
    let mut cat = Customer::new(&shop);
    cat.register("cat", "cat@example.test", PASSWORD)
        .await
        .unwrap();
    cat.add("1", 1).await.unwrap();
    cat.logout().await.unwrap();

    let mut visit = Customer::new(&shop);
    visit.add("1", 2).await.unwrap();
    let csrf = visit.get("/login").await.unwrap().csrf().to_owned();
    let form = [
        ("username", "cat"),
        ("password", PASSWORD),
        ("csrf", csrf.as_str()),
        ("next", "/"),
    ];
    let old = visit.cookie.clone();
    let mut tab2 = Customer::new(&shop);
    tab2.cookie = old.clone();
    let (a, b) = tokio::join!(visit.post("/login", &form), tab2.post("/login", &form));
    for answer in [a.unwrap(), b.unwrap()] {
        assert!(
            matches!(answer.status, 200 | 303),
            "{} {}",
            answer.status,
            answer.body
        );
    }
    // A third submit, later, with the same old cookie.
    let mut tab3 = Customer::new(&shop);
    tab3.cookie = old;
    let answer = tab3.post("/login", &form).await.unwrap();
    assert_eq!(answer.status, 303, "nothing left to merge: straight on");
    assert_eq!(shop.basket_lines().await.unwrap(), [("1".to_owned(), 3)]);
    assert_eq!(shop.count("baskets").await.unwrap(), 1);
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_words() {
    let shop = ShopUnderTest::start(&[], &[]).await.unwrap();
    let mut dee = Customer::new(&shop);
    dee.register("dee", "dee@example.test", PASSWORD)
        .await
        .unwrap();
    let mut x = Customer::new(&shop);
    let wrong = x.login("dee", "not-the-password", "/").await.unwrap();
    let mut y = Customer::new(&shop);
    let unknown = y
        .login("nobody-here", "not-the-password", "/")
        .await
        .unwrap();
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, 200);
        assert_eq!(
            page.text_of_id("form-error"),
            Some("Wrong username or password.")
        );
        assert!(!page.headers.contains_key("set-cookie"));
    }
    assert_eq!(shop.count("sessions").await.unwrap(), 1, "only dee's");
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn failed_logins_back_off_with_429_and_retry_after() {
    let shop = ShopUnderTest::start(
        &[],
        &[
            ("FUNNYHAT_LOGIN__FREE_ATTEMPTS_PER_ACCOUNT", "3"),
            ("FUNNYHAT_LOGIN__MAX_BACKOFF_SECS", "2"),
        ],
    )
    .await
    .unwrap();
    let mut eve = Customer::new(&shop);
    eve.register("eve", "eve@example.test", PASSWORD)
        .await
        .unwrap();
    let mut attacker = Customer::new(&shop);
    for _ in 0..4 {
        let page = attacker.login("eve", "guess-guess", "/").await.unwrap();
        assert_eq!(page.status, 200);
    }
    let limited = attacker.login("eve", "guess-guess", "/").await.unwrap();
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(limited.body.contains("Too many failed attempts to log in"));
    // Even the right password waits (backoff), but waiting helps: never a lockout.
    let mut owner = Customer::new(&shop);
    let page = owner.login("EVE", PASSWORD, "/").await.unwrap();
    assert_eq!(page.status, 429);
    eventually(
        "the owner gets in after the wait",
        Duration::from_secs(10),
        || {
            let mut owner = Customer::new(&shop);
            async move { Ok(owner.login("eve", PASSWORD, "/").await?.status == 303) }
        },
    )
    .await
    .unwrap();
    // Another account from the same address is not affected.
    let mut fay = Customer::new(&shop);
    let page = fay.login("fay", "whatever-else", "/").await.unwrap();
    assert_eq!(page.status, 200);
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn next_only_goes_to_local_paths() {
    let shop = ShopUnderTest::start(&[], &[]).await.unwrap();
    let mut gil = Customer::new(&shop);
    gil.register("gil", "gil@example.test", PASSWORD)
        .await
        .unwrap();
    for (next, want) in [
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/basket", "/basket"),
    ] {
        let mut c = Customer::new(&shop);
        let form = c
            .get(&format!(
                "/login?{}",
                crate::support::form_body(&[("next", next)])
            ))
            .await
            .unwrap();
        assert!(
            form.body.contains(&format!(
                "name=\"next\" value=\"{}\"",
                want.replace('/', "&#47;")
            )) || form
                .body
                .contains(&format!("name=\"next\" value=\"{want}\"")),
            "{next}: {}",
            form.body
        );
        let answer = c.login("gil", PASSWORD, next).await.unwrap();
        assert_eq!(answer.status, 303, "{next}");
        assert_eq!(answer.header("location"), want, "{next}");
    }
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_register_form_states_its_rules_and_escapes_what_was_typed() {
    let shop = ShopUnderTest::start(&[], &[]).await.unwrap();
    let mut hal = Customer::new(&shop);
    let form = hal.get("/register").await.unwrap();
    assert!(form.body.contains("3 to 32 characters"));
    assert!(form.body.contains("At least 12 characters"));
    let page = hal
        .register("<script>alert(1)</script>", "<b>@x", "password1")
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>alert(1)"), "escaped");
    assert!(!page.body.contains("<b>@x"));
    assert!(page.body.contains("Usernames may use only"));
    assert!(page.body.contains("Please enter an email address"));
    assert!(page.body.contains("That password is too common"));
    assert_eq!(shop.count("accounts").await.unwrap(), 0);

    hal.register("hal", "hal@example.test", PASSWORD)
        .await
        .unwrap();
    let mut other = Customer::new(&shop);
    let page = other
        .register("HAL", "other@example.test", PASSWORD)
        .await
        .unwrap();
    assert!(page.body.contains("That username is taken"));
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    // Visitor B's pages never show visitor A's name or token.
    let hals = hal.get("/").await.unwrap();
    let token = hals.csrf().to_owned();
    assert_eq!(hals.text_of_id("signed-in-as"), Some("Hello, hal"));
    for page in [other.get("/").await.unwrap(), shop.get("/").await.unwrap()] {
        assert!(!page.body.contains("Hello, hal"));
        assert!(!page.body.contains(&token));
    }
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn login_register_and_logout_need_the_csrf_token() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 5)], &[])
        .await
        .unwrap();
    let mut ivy = Customer::new(&shop);
    ivy.register("ivy", "ivy@example.test", PASSWORD)
        .await
        .unwrap();
    let page = ivy.post("/logout", &[("csrf", "forged")]).await.unwrap();
    assert_eq!(page.status, 403);
    assert_eq!(shop.count("sessions").await.unwrap(), 1, "still logged in");
    let page = ivy
        .post("/login", &[("username", "ivy"), ("password", PASSWORD)])
        .await
        .unwrap();
    assert_eq!(page.status, 403);
    let page = ivy
        .post(
            "/register",
            &[
                ("username", "ivy2"),
                ("email", "i@example.test"),
                ("password", PASSWORD),
            ],
        )
        .await
        .unwrap();
    assert_eq!(page.status, 403);
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    // Without a session, a login form posted from another site is refused.
    let answer = shop
        .http
        .post(shop.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(crate::support::form_body(&[
            ("username", "ivy"),
            ("password", PASSWORD),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    assert_eq!(shop.count("sessions").await.unwrap(), 1);
    shop.finish().await.unwrap();
}
