//! "Continue with Google / Facebook" against the stack's fake providers (oauth2-mock-server, made to
//! misbehave through its control endpoint): a Google login makes an account, a second one returns
//! to it, the anonymous basket is merged; Facebook, with and without an email address; an account
//! with the same email is linked only after its password is proven; a denied, refused or forged
//! login (invalid_grant, wrong audience, wrong issuer, expired, bad signature, wrong nonce) logs
//! nobody in; a state works once and only in its own session; `?next=` stays on the site.
//!
//! The control endpoint's state is global, so every test here (and the browser test that logs in
//! with Google) holds [`CONTROL`] while it runs and resets the providers first.

use crate::support::{Customer, Hat, Page, ShopUnderTest};
use std::time::Duration;
use tests::stack::env;

/// Held by every test that uses the fake providers.
static CONTROL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const GOOGLE_CLIENT_ID: &str = "funnyhat-shop-test";
const GOOGLE_SECRET: &str = "google-secret-for-tests";
const FACEBOOK_CLIENT_ID: &str = "100200300400";
const FACEBOOK_SECRET: &str = "facebook-secret-for-tests";
pub const PASSWORD: &str = "a-very-funny-hat-42";

/// Takes the fake providers for one test: holds [`CONTROL`] (keep the guard alive) and resets them.
pub async fn take_providers() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = CONTROL.lock().await;
    control("/reset", serde_json::json!({})).await;
    guard
}

/// POSTs JSON to the providers' control endpoint.
pub async fn control(path: &str, body: serde_json::Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}{path}", env("OAUTH_CONTROL_URL")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "control {path}");
}

/// Which providers a test shop is given settings for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum With {
    Both,
    GoogleOnly,
    /// Google's issuer and Facebook's token URL on a port where nothing listens.
    Unreachable,
}

/// A shop with the fake providers configured. Its public URL must be the address it listens on
/// (the providers send the browser back there), so the port is chosen before it starts.
pub async fn start_shop(hats: &[Hat], with: With) -> ShopUnderTest {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://127.0.0.1:{port}");
    let nowhere = "http://127.0.0.1:1";
    let google = if with == With::Unreachable {
        nowhere.to_owned()
    } else {
        env("OAUTH_GOOGLE_URL")
    };
    let facebook = env("OAUTH_FACEBOOK_URL");
    let (fb_authorize, fb_token, fb_userinfo) = (
        format!("{facebook}/authorize"),
        if with == With::Unreachable {
            format!("{nowhere}/token")
        } else {
            format!("{facebook}/token")
        },
        format!("{facebook}/userinfo"),
    );
    let mut settings = vec![
        ("FUNNYHAT_HTTP__LISTEN", listen.as_str()),
        ("FUNNYHAT_HTTP__PUBLIC_URL", public.as_str()),
        ("FUNNYHAT_LOGIN__GOOGLE__ISSUER_URL", google.as_str()),
        ("FUNNYHAT_LOGIN__GOOGLE__CLIENT_ID", GOOGLE_CLIENT_ID),
        ("FUNNYHAT_LOGIN__GOOGLE__CLIENT_SECRET", GOOGLE_SECRET),
    ];
    if with != With::GoogleOnly {
        settings.extend([
            (
                "FUNNYHAT_LOGIN__FACEBOOK__AUTHORIZE_URL",
                fb_authorize.as_str(),
            ),
            ("FUNNYHAT_LOGIN__FACEBOOK__TOKEN_URL", fb_token.as_str()),
            (
                "FUNNYHAT_LOGIN__FACEBOOK__USERINFO_URL",
                fb_userinfo.as_str(),
            ),
            // Digits only, as Facebook app ids are: read as a number from the environment.
            ("FUNNYHAT_LOGIN__FACEBOOK__CLIENT_ID", FACEBOOK_CLIENT_ID),
            ("FUNNYHAT_LOGIN__FACEBOOK__CLIENT_SECRET", FACEBOOK_SECRET),
        ]);
    }
    let shop = ShopUnderTest::start(hats, &settings).await.unwrap();
    assert_eq!(shop.base, public);
    shop
}

/// One provider login as a browser does it, stopping at the shop's answer to the callback.
pub struct Login {
    /// The answer to `POST /login/{provider}` (a 303 to the provider).
    pub start: Page,
    /// The provider's redirect back to the shop: path and query, `code` and `state` in it.
    pub callback: String,
    /// The shop's answer to the callback.
    pub answer: Page,
}

/// Starts a login from the login page (with `next`) and follows the provider's redirect back.
pub async fn provider_login(customer: &mut Customer, provider: &str, next: &str) -> Login {
    let (start, callback) = start_login(customer, provider, next).await;
    let answer = customer.get(&callback).await.unwrap();
    Login {
        start,
        callback,
        answer,
    }
}

/// The first half: `POST /login/{provider}` and the provider's authorize step. Returns the start's
/// answer and the callback path the provider redirects to.
async fn start_login(customer: &mut Customer, provider: &str, next: &str) -> (Page, String) {
    let form = customer
        .get(&format!("/login?next={}", urlencode(next)))
        .await
        .unwrap();
    assert!(
        form.body
            .contains(&format!("id=\"continue-with-{provider}\"")),
        "{}",
        form.body
    );
    let csrf = form.csrf().to_owned();
    let start = customer
        .post(
            &format!("/login/{provider}"),
            &[("csrf", &csrf), ("next", next)],
        )
        .await
        .unwrap();
    assert_eq!(start.status, 303, "{}", start.body);
    let callback = through_provider(provider, start.header("location")).await;
    (start, callback)
}

/// The provider's part of a login, as the browser sees it: the shop's 303 to `authorize` (which
/// must be `provider`'s) is followed, and the provider (logging its current user in at once)
/// redirects back. Returns the callback path and query it redirects to.
pub async fn through_provider(provider: &str, authorize: &str) -> String {
    let provider_url = env(if provider == "google" {
        "OAUTH_GOOGLE_URL"
    } else {
        "OAUTH_FACEBOOK_URL"
    });
    assert!(authorize.starts_with(&provider_url), "{authorize}");
    let back = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 302);
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    let (_, path) = location
        .split_once("//")
        .and_then(|(_, rest)| rest.split_once('/'))
        .unwrap();
    format!("/{path}")
}

fn urlencode(text: &str) -> String {
    crate::support::form_body(&[("x", text)])[2..].to_owned()
}

/// A query parameter of a URL or path.
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

pub async fn one_text(shop: &ShopUnderTest, sql: &str) -> Option<String> {
    let pool = shop.db.connect("migrator").await.unwrap();
    let v: Option<String> = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    v
}

async fn one_bool(shop: &ShopUnderTest, sql: &str) -> bool {
    let pool = shop.db.connect("migrator").await.unwrap();
    let v: bool = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    v
}

/// Sessions that have an account signed in.
pub async fn signed_in_sessions(shop: &ShopUnderTest) -> i64 {
    let pool = shop.db.connect("migrator").await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM shop.sessions WHERE account_id IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    n
}

/// The login page a refused login lands on, with its words.
async fn refused_page(customer: &mut Customer, login: &Login, expect: &str) -> Page {
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    let location = login.answer.header("location").to_owned();
    assert!(location.starts_with("/login?error="), "{location}");
    let page = customer.get(&location).await.unwrap();
    assert_eq!(page.status, 200);
    let error = page.text_of_id("form-error").unwrap_or_default().to_owned();
    assert!(error.contains(expect), "{error:?} should say {expect:?}");
    assert_eq!(page.text_of_id("signed-in-as"), None, "nobody is logged in");
    page
}

#[tokio::test]
async fn a_google_login_makes_an_account_returns_to_it_and_keeps_the_basket() {
    let _control = take_providers().await;
    let shop = start_shop(
        &[Hat::new("1", "Top Hat", 5), Hat::new("2", "Bowler", 5)],
        With::Both,
    )
    .await;
    for path in ["/login", "/register"] {
        let page = shop.get(path).await.unwrap();
        assert!(page.body.contains("Continue with Google"), "{path}");
        assert!(page.body.contains("Continue with Facebook"), "{path}");
        // The CSP lets the login forms lead to the providers (form-action covers redirects).
        let csp = page.header("content-security-policy");
        assert!(csp.contains(&env("OAUTH_GOOGLE_URL")), "{csp}");
        assert!(csp.contains(&env("OAUTH_FACEBOOK_URL")), "{csp}");
    }

    // An anonymous visit with hats in the basket, then "Continue with Google".
    let mut alice = Customer::new(&shop);
    alice.add("1", 2).await.unwrap();
    let anonymous_cookie = alice.cookie.clone().unwrap();
    let login = provider_login(&mut alice, "google", "/basket").await;
    let authorize = login.start.header("location");
    assert_eq!(
        param(authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(param(authorize, "nonce").is_some_and(|n| n.len() >= 43));
    assert!(param(authorize, "state").is_some_and(|s| s.len() >= 43));
    assert!(param(authorize, "scope").is_some_and(|s| s.contains("openid")));
    assert_eq!(
        param(authorize, "client_id").as_deref(),
        Some(GOOGLE_CLIENT_ID)
    );
    assert_eq!(
        login.start.header("set-cookie"),
        "",
        "the session already existed"
    );
    // The merge changed the basket, so the welcome page says how, then leads to `next`.
    let welcome = &login.answer;
    assert_eq!(welcome.status, 200, "{}", welcome.body);
    assert!(
        welcome.body.contains("Welcome, alice.example"),
        "{}",
        welcome.body
    );
    assert!(
        welcome
            .body
            .contains("Top Hat</strong>: 2 added from this visit")
    );
    assert!(welcome.body.contains("<a href=\"/basket\">Carry on</a>"));
    let account_cookie = alice.cookie.clone().unwrap();
    assert_ne!(account_cookie, anonymous_cookie, "the session id rotates");
    assert_eq!(
        shop.count("sessions").await.unwrap(),
        1,
        "the old one is gone"
    );
    assert_eq!(
        shop.count("baskets").await.unwrap(),
        1,
        "merged, not copied"
    );
    assert_eq!(
        shop.count("oauth_logins").await.unwrap(),
        0,
        "state used up"
    );
    let basket = alice.get("/basket").await.unwrap();
    assert_eq!(
        basket.text_of_id("signed-in-as"),
        Some("Hello, alice.example")
    );
    assert_eq!(basket.basket_count(), Some(2));

    // The account and its identity as stored.
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    assert_eq!(
        one_text(&shop, "SELECT email FROM shop.accounts")
            .await
            .as_deref(),
        Some("alice@gmail.test")
    );
    assert!(one_bool(&shop, "SELECT email_verified FROM shop.accounts").await);
    assert!(
        one_bool(&shop, "SELECT password_hash IS NULL FROM shop.accounts").await,
        "no password"
    );
    assert_eq!(
        one_text(
            &shop,
            "SELECT provider || ':' || subject || ':' || email_at_link FROM shop.oauth_identities"
        )
        .await
        .as_deref(),
        Some("google:google-uid-123:alice@gmail.test")
    );
    let profile = alice.get("/account").await.unwrap();
    assert_eq!(
        profile.text_of_id("profile-linked"),
        Some("You can log in with Google. This account has no password.")
    );
    // Without a password, the password form does not let anyone in.
    let mut guesser = Customer::new(&shop);
    let wrong = guesser.login("alice.example", "", "/").await.unwrap();
    assert_eq!(wrong.status, 200);
    assert_eq!(
        wrong.text_of_id("form-error"),
        Some("Wrong username or password.")
    );

    // Log out, come back: the same account (found by the provider's subject), `next` honoured.
    alice.logout().await.unwrap();
    let again = provider_login(&mut alice, "google", "/hats/2").await;
    assert_eq!(again.answer.status, 303, "{}", again.answer.body);
    assert_eq!(again.answer.header("location"), "/hats/2");
    let page = alice.get("/hats/2").await.unwrap();
    assert_eq!(
        page.text_of_id("signed-in-as"),
        Some("Hello, alice.example")
    );
    assert_eq!(page.basket_count(), Some(2), "the account's basket");
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);

    // `?next=` elsewhere is refused: back to the home page.
    alice.logout().await.unwrap();
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let login = provider_login(&mut alice, "google", evil).await;
        assert_eq!(login.answer.status, 303, "{evil}: {}", login.answer.body);
        assert_eq!(login.answer.header("location"), "/", "{evil}");
        alice.logout().await.unwrap();
    }
    // A username is derived afresh for a second person of the same name, and never clashes.
    control(
        "/google/users",
        serde_json::json!({"sub": "google-uid-999", "email": "alice2@gmail.test",
                           "email_verified": false, "name": "Alice Example"}),
    )
    .await;
    let mut other = Customer::new(&shop);
    let login = provider_login(&mut other, "google", "/").await;
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    let page = other.get("/").await.unwrap();
    assert_eq!(
        page.text_of_id("signed-in-as"),
        Some("Hello, alice.example-2")
    );
    assert!(
        !one_bool(
            &shop,
            "SELECT email_verified FROM shop.accounts WHERE username = 'alice.example-2'"
        )
        .await,
        "Google said the address is not verified"
    );
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn facebook_logins_with_and_without_an_email_address() {
    let _control = take_providers().await;
    let shop = start_shop(&[Hat::new("1", "Top Hat", 5)], With::Both).await;

    // The default Facebook user gives an email address: an account straight away.
    let mut bob = Customer::new(&shop);
    let login = provider_login(&mut bob, "facebook", "/").await;
    let authorize = login.start.header("location");
    assert_eq!(
        param(authorize, "client_id").as_deref(),
        Some(FACEBOOK_CLIENT_ID)
    );
    assert_eq!(
        param(authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(param(authorize, "nonce").is_none(), "not OpenID Connect");
    assert!(
        login
            .start
            .header("set-cookie")
            .starts_with("funnyhat-session="),
        "a session is made when the login starts"
    );
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    assert_eq!(login.answer.header("location"), "/");
    let page = bob.get("/").await.unwrap();
    assert_eq!(page.text_of_id("signed-in-as"), Some("Hello, bob.example"));
    assert_eq!(
        one_text(
            &shop,
            "SELECT email FROM shop.accounts WHERE username = 'bob.example'"
        )
        .await
        .as_deref(),
        Some("bob@facebook.test")
    );
    assert!(
        !one_bool(&shop, "SELECT email_verified FROM shop.accounts").await,
        "Facebook does not say an address is verified"
    );

    // A Facebook user without an email address is asked for one first.
    control(
        "/facebook/users",
        serde_json::json!({"sub": "fb-uid-789", "id": "fb-uid-789", "name": "Carol Nomail"}),
    )
    .await;
    let mut carol = Customer::new(&shop);
    carol.add("1", 1).await.unwrap();
    let login = provider_login(&mut carol, "facebook", "/basket").await;
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    assert_eq!(login.answer.header("location"), "/login/email");
    let form = carol.get("/login/email").await.unwrap();
    assert_eq!(form.status, 200);
    assert!(
        form.text_of_id("email-intro")
            .unwrap()
            .starts_with("Facebook did not tell us your email address.")
    );
    assert_eq!(signed_in_sessions(&shop).await, 1, "only Bob so far");
    let csrf = form.csrf().to_owned();
    let bad = carol
        .post(
            "/login/email",
            &[("csrf", &csrf), ("email", "carol<script>")],
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 200);
    assert_eq!(
        bad.text_of_id("form-error"),
        Some("Please enter an email address like name@example.com.")
    );
    assert!(
        bad.body.contains("value=\"carol&#60;script&#62;\""),
        "{}",
        bad.body
    );
    // Without the session's token, nothing happens.
    let forged = carol
        .post(
            "/login/email",
            &[("csrf", "wrong"), ("email", "carol@example.test")],
        )
        .await
        .unwrap();
    assert_eq!(forged.status, 403);
    let welcome = carol
        .post(
            "/login/email",
            &[("csrf", &csrf), ("email", " Carol@Example.TEST ")],
        )
        .await
        .unwrap();
    assert_eq!(welcome.status, 200, "{}", welcome.body);
    assert!(welcome.body.contains("Welcome, carol.nomail"));
    let page = carol.get("/basket").await.unwrap();
    assert_eq!(page.text_of_id("signed-in-as"), Some("Hello, carol.nomail"));
    assert_eq!(page.basket_count(), Some(1));
    assert_eq!(
        one_text(
            &shop,
            "SELECT a.email FROM shop.accounts a JOIN shop.oauth_identities i USING (account_id) \
             WHERE i.provider = 'facebook' AND i.subject = 'fb-uid-789'"
        )
        .await
        .as_deref(),
        Some("Carol@example.test")
    );
    assert_eq!(shop.count("oauth_pending").await.unwrap(), 0);
    // The pages of a finished login are gone.
    assert_eq!(
        carol.get("/login/email").await.unwrap().header("location"),
        "/login"
    );
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn an_account_with_the_same_email_is_linked_only_after_its_password() {
    let _control = take_providers().await;
    let shop = start_shop(&[Hat::new("1", "Top Hat", 5)], With::Both).await;
    let mut alice = Customer::new(&shop);
    let made = alice
        .register("alice", "Alice@Gmail.test", PASSWORD)
        .await
        .unwrap();
    assert_eq!(made.status, 303, "{}", made.body);
    alice.add("1", 1).await.unwrap();
    alice.logout().await.unwrap();

    // Google says alice@gmail.test is verified, but ours is not: prove the password first.
    let login = provider_login(&mut alice, "google", "/basket").await;
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    assert_eq!(login.answer.header("location"), "/login/link");
    assert_eq!(signed_in_sessions(&shop).await, 0);
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 0);
    let form = alice.get("/login/link").await.unwrap();
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("<strong>alice@gmail.test</strong>"),
        "{}",
        form.body
    );
    let csrf = form.csrf().to_owned();
    let wrong = alice
        .post(
            "/login/link",
            &[
                ("csrf", &csrf),
                ("action", "link"),
                ("username", "alice"),
                ("password", "not-the-password"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 200);
    assert_eq!(
        wrong.text_of_id("form-error"),
        Some("Wrong username or password.")
    );
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 0);
    assert_eq!(signed_in_sessions(&shop).await, 0);
    let linked = alice
        .post(
            "/login/link",
            &[
                ("csrf", &csrf),
                ("action", "link"),
                ("username", "Alice"),
                ("password", PASSWORD),
            ],
        )
        .await
        .unwrap();
    assert_eq!(linked.status, 303, "{}", linked.body);
    assert_eq!(linked.header("location"), "/basket");
    let basket = alice.get("/basket").await.unwrap();
    assert_eq!(basket.text_of_id("signed-in-as"), Some("Hello, alice"));
    assert_eq!(basket.basket_count(), Some(1));
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    assert_eq!(
        one_text(
            &shop,
            "SELECT a.username FROM shop.oauth_identities i JOIN shop.accounts a USING (account_id)"
        )
        .await
        .as_deref(),
        Some("alice")
    );
    assert_eq!(shop.count("oauth_pending").await.unwrap(), 0);

    let profile = alice.get("/account").await.unwrap();
    assert_eq!(
        profile.text_of_id("profile-linked"),
        Some("You can log in with Google, or with your username and password.")
    );
    // From now on Google logs straight in to that account.
    alice.logout().await.unwrap();
    let login = provider_login(&mut alice, "google", "/").await;
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    assert_eq!(login.answer.header("location"), "/");
    let page = alice.get("/").await.unwrap();
    assert_eq!(page.text_of_id("signed-in-as"), Some("Hello, alice"));
    alice.logout().await.unwrap();

    // A Facebook login without an email, given Alice's address: that never proves it, so the
    // password is asked for; the customer may choose a separate account instead.
    control(
        "/facebook/users",
        serde_json::json!({"sub": "fb-uid-1", "id": "fb-uid-1", "name": "Mallory"}),
    )
    .await;
    let mut mallory = Customer::new(&shop);
    let login = provider_login(&mut mallory, "facebook", "/").await;
    assert_eq!(login.answer.header("location"), "/login/email");
    let form = mallory.get("/login/email").await.unwrap();
    let csrf = form.csrf().to_owned();
    let next = mallory
        .post(
            "/login/email",
            &[("csrf", &csrf), ("email", "alice@gmail.test")],
        )
        .await
        .unwrap();
    assert_eq!(next.status, 303);
    assert_eq!(next.header("location"), "/login/link");
    assert_eq!(signed_in_sessions(&shop).await, 0);
    let form = mallory.get("/login/link").await.unwrap();
    assert!(
        form.body
            .contains("Make a separate account with Facebook instead")
    );
    let separate = mallory
        .post("/login/link", &[("csrf", &csrf), ("action", "separate")])
        .await
        .unwrap();
    assert_eq!(separate.status, 303, "{}", separate.body);
    let page = mallory.get("/").await.unwrap();
    assert_eq!(page.text_of_id("signed-in-as"), Some("Hello, mallory"));
    assert_eq!(shop.count("accounts").await.unwrap(), 2);
    assert_eq!(
        one_text(
            &shop,
            "SELECT string_agg(username, ',' ORDER BY account_id) FROM shop.accounts"
        )
        .await
        .as_deref(),
        Some("alice,mallory"),
        "Alice's account is untouched"
    );
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}

/// Every way a provider login can fail, in turn on one shop: the customer lands on the login page
/// with the reason in words, nobody is logged in, nothing is stored, and the shop's log says why
/// without any secret in it.
#[tokio::test]
async fn denied_refused_and_forged_provider_logins_log_nobody_in() {
    let _control = take_providers().await;
    let mut shop = start_shop(&[], With::Both).await;
    let mut customer = Customer::new(&shop);

    control(
        "/google/deny-next",
        serde_json::json!({"error": "access_denied"}),
    )
    .await;
    let login = provider_login(&mut customer, "google", "/basket").await;
    assert!(login.callback.contains("error=access_denied"));
    let page = refused_page(
        &mut customer,
        &login,
        "You cancelled logging in with Google",
    )
    .await;
    assert!(
        page.body.contains("name=\"next\" value=\"/basket\"")
            || page.body.contains("name=\"next\" value=\"&#47;basket\""),
        "next is kept for another try"
    );
    control("/facebook/deny-next", serde_json::json!({})).await;
    let login = provider_login(&mut customer, "facebook", "/").await;
    refused_page(
        &mut customer,
        &login,
        "You cancelled logging in with Facebook",
    )
    .await;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cases: [(&str, &str, Option<serde_json::Value>, &str); 8] = [
        (
            "google",
            "/google/fail-next-token",
            None,
            "refused the authorization code",
        ),
        (
            "facebook",
            "/facebook/fail-next-token",
            None,
            "refused the authorization code",
        ),
        (
            "google",
            "/google/next-token",
            Some(serde_json::json!({"aud": "another-shop"})),
            "wrong audience",
        ),
        (
            "google",
            "/google/next-token",
            Some(serde_json::json!({"iss": "http://127.0.0.1:9/not-google"})),
            "wrong issuer",
        ),
        (
            "google",
            "/google/next-token",
            Some(serde_json::json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})),
            "expired",
        ),
        (
            "google",
            "/google/bad-signature-next",
            None,
            "bad signature",
        ),
        (
            "google",
            "/google/next-token",
            Some(serde_json::json!({"nonce": "a-nonce-of-another-login"})),
            "wrong nonce",
        ),
        (
            "google",
            "/google/next-token",
            Some(serde_json::json!({"nonce": null})),
            "wrong nonce",
        ),
    ];
    let mut codes = Vec::new();
    for (provider, path, body, reason) in cases {
        control(path, body.unwrap_or_else(|| serde_json::json!({}))).await;
        let login = provider_login(&mut customer, provider, "/").await;
        codes.push(param(&login.callback, "code").unwrap());
        let name = if provider == "google" {
            "Google"
        } else {
            "Facebook"
        };
        refused_page(
            &mut customer,
            &login,
            &format!("Sorry, we could not log you in with {name}"),
        )
        .await;
        let logged = shop
            .process
            .wait_for_log("provider login refused", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(logged["provider"], provider, "{path}");
        assert!(
            logged["reason"]
                .as_str()
                .unwrap_or_default()
                .contains(reason),
            "{path}: {logged}"
        );
    }
    assert_eq!(shop.count("accounts").await.unwrap(), 0);
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 0);
    assert_eq!(signed_in_sessions(&shop).await, 0);
    assert_eq!(
        shop.count("oauth_logins").await.unwrap(),
        0,
        "every state used up"
    );

    // The providers behave again: the same customer logs in.
    let login = provider_login(&mut customer, "google", "/").await;
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    assert_eq!(signed_in_sessions(&shop).await, 1);

    let log = shop.process.drain().join("\n");
    for secret in [GOOGLE_SECRET, FACEBOOK_SECRET]
        .iter()
        .map(|s| s.to_string())
        .chain(codes)
    {
        assert!(!log.contains(&secret), "the log holds a secret or a code");
    }
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}

/// A state works once, in the session that started it, for ten minutes. A provider without
/// settings is not offered at all.
#[tokio::test]
async fn a_state_works_once_and_only_in_its_own_session() {
    let _control = take_providers().await;
    let shop = start_shop(&[], With::GoogleOnly).await;
    let page = shop.get("/login").await.unwrap();
    assert!(page.body.contains("id=\"continue-with-google\""));
    assert!(!page.body.contains("Facebook"), "no settings, no button");
    let mut someone = Customer::new(&shop);
    let no = someone
        .post("/login/facebook", &[("csrf", ""), ("next", "/")])
        .await
        .unwrap();
    assert_eq!(no.status, 404);

    // Ann's login, and its callback URL carried to Eve's browser (which has a session of its own):
    // refused there, and still good for Ann.
    let mut ann = Customer::new(&shop);
    let (_, callback) = start_login(&mut ann, "google", "/").await;
    let mut eve = Customer::new(&shop);
    let (_, _eves_own) = start_login(&mut eve, "google", "/").await;
    let stolen = eve.get(&callback).await.unwrap();
    assert_eq!(stolen.status, 303);
    assert_eq!(
        stolen.header("location"),
        "/login?error=google-expired&next=%2F"
    );
    let page = eve.get(stolen.header("location")).await.unwrap();
    assert!(
        page.text_of_id("form-error")
            .unwrap()
            .starts_with("That login with Google has expired or was already used")
    );
    // Without any session, likewise.
    let mut nobody = Customer::new(&shop);
    let answer = nobody.get(&callback).await.unwrap();
    assert_eq!(
        answer.header("location"),
        "/login?error=google-expired&next=%2F"
    );
    assert!(nobody.cookie.is_none());
    assert_eq!(signed_in_sessions(&shop).await, 0);

    let done = ann.get(&callback).await.unwrap();
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), "/");
    assert_eq!(signed_in_sessions(&shop).await, 1);
    let ann_cookie = ann.cookie.clone();

    // Used once: the same callback again changes nothing (Ann stays who she is).
    let again = ann.get(&callback).await.unwrap();
    assert_eq!(
        again.header("location"),
        "/login?error=google-expired&next=%2F"
    );
    assert_eq!(ann.cookie, ann_cookie, "no new session");
    assert_eq!(signed_in_sessions(&shop).await, 1);
    assert_eq!(shop.count("accounts").await.unwrap(), 1);

    // Ten minutes later a started login is no good either.
    let mut late = Customer::new(&shop);
    let (_, callback) = start_login(&mut late, "google", "/").await;
    shop.exec("UPDATE shop.oauth_logins SET expires_at = now() - interval '1 second'")
        .await
        .unwrap();
    let answer = late.get(&callback).await.unwrap();
    assert_eq!(
        answer.header("location"),
        "/login?error=google-expired&next=%2F"
    );
    assert_eq!(signed_in_sessions(&shop).await, 1);

    // Starting needs the form's token once there is a session.
    let forged = late
        .post("/login/google", &[("csrf", "not-the-token"), ("next", "/")])
        .await
        .unwrap();
    assert_eq!(forged.status, 403);
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}

/// A provider that cannot be reached: at the start (Google's discovery) or at the code exchange
/// (Facebook's token URL). Both end on the login page with nobody logged in.
#[tokio::test]
async fn an_unreachable_provider_is_a_failed_login() {
    let _control = take_providers().await;
    let mut shop = start_shop(&[], With::Unreachable).await;
    let mut customer = Customer::new(&shop);
    let form = customer.get("/login").await.unwrap();
    let start = customer
        .post(
            "/login/google",
            &[("csrf", form.csrf()), ("next", "/basket")],
        )
        .await
        .unwrap();
    assert_eq!(start.status, 303);
    assert_eq!(
        start.header("location"),
        "/login?error=google-failed&next=%2Fbasket"
    );
    let page = customer.get(start.header("location")).await.unwrap();
    assert!(
        page.text_of_id("form-error")
            .unwrap()
            .starts_with("Sorry, we could not log you in with Google")
    );
    assert_eq!(shop.count("oauth_logins").await.unwrap(), 0, "nothing kept");
    let logged = shop
        .process
        .wait_for_log("provider login could not start", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(logged["provider"], "google");

    let login = provider_login(&mut customer, "facebook", "/").await;
    refused_page(
        &mut customer,
        &login,
        "Sorry, we could not log you in with Facebook",
    )
    .await;
    let logged = shop
        .process
        .wait_for_log("provider login refused", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        logged["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("could not be reached"),
        "{logged}"
    );
    assert_eq!(signed_in_sessions(&shop).await, 0);
    assert_eq!(shop.count("accounts").await.unwrap(), 0);
    shop.finish().await.unwrap();
}
