//! The ways to log in on the profile page (docs/ACCOUNTS.md, "Login methods on the profile page"):
//! linking Google or Facebook while logged in (to this account, whatever the emails say; refused
//! when another account has that identity, or when the session changed meanwhile), unlinking
//! (refused for the last way to log in), setting a first password on an account made by a provider
//! login, and changing a password (the current one needed, rate-limited as the login form is, every
//! other session of the account logged out). Every new form needs the CSRF token.
//!
//! The tests that log in with the fake providers take them first (`oauth::take_providers`): their
//! state is global.

use crate::oauth::{
    PASSWORD, With, control, one_text, provider_login, signed_in_sessions, start_shop,
    take_providers, through_provider,
};
use crate::support::{Customer, Page, ShopUnderTest};

const NEW_PASSWORD: &str = "an-even-funnier-hat-7";

/// "Link {provider}" on the profile page, through the provider and back: returns the shop's answer
/// to the callback and the callback path.
async fn link(customer: &mut Customer, provider: &str) -> (Page, String) {
    let profile = customer.get("/account").await.unwrap();
    assert!(
        profile.body.contains(&format!("id=\"link-{provider}\"")),
        "{}",
        profile.body
    );
    let csrf = profile.csrf().to_owned();
    let start = customer
        .post(&format!("/account/link/{provider}"), &[("csrf", &csrf)])
        .await
        .unwrap();
    assert_eq!(start.status, 303, "{}", start.body);
    assert_eq!(start.header("set-cookie"), "", "the session stays");
    let callback = through_provider(provider, start.header("location")).await;
    (customer.get(&callback).await.unwrap(), callback)
}

/// POSTs a profile form with the profile page's token.
async fn post_from_profile(customer: &mut Customer, path: &str, form: &[(&str, &str)]) -> Page {
    let profile = customer.get("/account").await.unwrap();
    let csrf = profile.csrf().to_owned();
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    customer.post(path, &fields).await.unwrap()
}

async fn password_hash(shop: &ShopUnderTest, username: &str) -> Option<String> {
    one_text(
        shop,
        &format!("SELECT password_hash FROM shop.accounts WHERE username = '{username}'"),
    )
    .await
}

fn signed_in_as(page: &Page) -> Option<&str> {
    page.text_of_id("signed-in-as")
}

#[tokio::test]
async fn linking_google_while_logged_in_adds_a_way_to_log_in_to_the_same_account() {
    let _control = take_providers().await;
    // Google's address is not the account's: the customer is logged in, so no email matching.
    control(
        "/google/users",
        serde_json::json!({"sub": "google-uid-77", "email": "carol.hats@gmail.test",
                           "email_verified": true, "name": "Carol Hats"}),
    )
    .await;
    let shop = start_shop(&[], With::Both).await;
    let mut carol = Customer::new(&shop);
    let made = carol
        .register("carol", "carol@shop.test", PASSWORD)
        .await
        .unwrap();
    assert_eq!(made.status, 303, "{}", made.body);

    let profile = carol.get("/account").await.unwrap();
    assert_eq!(profile.text_of_id("method-password-status"), Some("Set"));
    assert_eq!(
        profile.text_of_id("method-google-status"),
        Some("Not linked")
    );
    assert_eq!(
        profile.text_of_id("method-facebook-status"),
        Some("Not linked")
    );
    assert!(profile.body.contains("id=\"link-facebook\""));
    assert_eq!(profile.text_of_id("profile-linked"), None);

    let cookie = carol.cookie.clone();
    let (answer, callback) = link(&mut carol, "google").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), "/account?notice=google-linked");
    assert_eq!(carol.cookie, cookie, "linking never swaps the session");
    assert_eq!(signed_in_sessions(&shop).await, 1);
    assert_eq!(shop.count("oauth_logins").await.unwrap(), 0, "state used");
    let profile = carol.get(answer.header("location")).await.unwrap();
    assert_eq!(signed_in_as(&profile), Some("Hello, carol"));
    assert_eq!(
        profile.text_of_id("profile-notice"),
        Some("Google is linked: you can now log in with it too.")
    );
    assert_eq!(
        profile.text_of_id("method-google-status"),
        Some("Linked (carol.hats@gmail.test)")
    );
    assert!(profile.body.contains("id=\"unlink-google\""));
    assert!(!profile.body.contains("id=\"link-google\""));
    assert_eq!(
        profile.text_of_id("profile-linked"),
        Some("You can log in with Google, or with your username and password.")
    );
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    assert_eq!(
        one_text(
            &shop,
            "SELECT a.username || ':' || a.email || ':' || i.subject || ':' || i.email_at_link \
             FROM shop.oauth_identities i JOIN shop.accounts a USING (account_id)"
        )
        .await
        .as_deref(),
        Some("carol:carol@shop.test:google-uid-77:carol.hats@gmail.test"),
        "linked to carol, whose own email is unchanged"
    );
    // The callback works once.
    let again = carol.get(&callback).await.unwrap();
    assert_eq!(
        again.header("location"),
        "/login?error=google-expired&next=%2F"
    );
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);

    // Logged out, "Continue with Google" reaches the same account.
    carol.logout().await.unwrap();
    let login = provider_login(&mut carol, "google", "/account").await;
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    assert_eq!(login.answer.header("location"), "/account");
    let profile = carol.get("/account").await.unwrap();
    assert_eq!(signed_in_as(&profile), Some("Hello, carol"));
    assert_eq!(shop.count("accounts").await.unwrap(), 1);

    // One Google account per account: a second one is refused (no button; the POST anyway).
    let carol_77 = serde_json::json!({"sub": "google-uid-77", "email": "carol.hats@gmail.test",
                                      "email_verified": true, "name": "Carol Hats"});
    control(
        "/google/users",
        serde_json::json!({"sub": "google-uid-78", "email": "carol.work@gmail.test",
                           "email_verified": true, "name": "Carol Work"}),
    )
    .await;
    assert!(!profile.body.contains("id=\"link-google\""));
    let start = post_from_profile(&mut carol, "/account/link/google", &[]).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let callback = through_provider("google", start.header("location")).await;
    let answer = carol.get(&callback).await.unwrap();
    assert_eq!(answer.header("location"), "/account?notice=google-one");
    let profile = carol.get(answer.header("location")).await.unwrap();
    assert_eq!(
        profile.text_of_id("profile-problem"),
        Some(
            "This account is already linked to a Google account. Unlink it first to link \
             another one."
        )
    );
    assert_eq!(
        profile.text_of_id("method-google-status"),
        Some("Linked (carol.hats@gmail.test)")
    );
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);
    control("/google/users", carol_77).await;

    // Dave tries to link the same Google account to his: refused, nothing changes.
    let mut dave = Customer::new(&shop);
    dave.register("dave", "dave@shop.test", PASSWORD)
        .await
        .unwrap();
    let daves_cookie = dave.cookie.clone();
    let (answer, _) = link(&mut dave, "google").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), "/account?notice=google-taken");
    assert_eq!(dave.cookie, daves_cookie);
    let profile = dave.get(answer.header("location")).await.unwrap();
    assert_eq!(signed_in_as(&profile), Some("Hello, dave"));
    assert_eq!(
        profile.text_of_id("profile-problem"),
        Some(
            "That Google account is already linked to another account at our shop, so it was \
             not linked to this one. Nothing changed."
        )
    );
    assert_eq!(
        profile.text_of_id("method-google-status"),
        Some("Not linked")
    );
    assert_eq!(
        one_text(
            &shop,
            "SELECT string_agg(a.username || ':' || i.provider, ',') \
             FROM shop.oauth_identities i JOIN shop.accounts a USING (account_id)"
        )
        .await
        .as_deref(),
        Some("carol:google")
    );
    assert_eq!(signed_in_sessions(&shop).await, 2, "carol and dave");

    // A link whose session ended meanwhile (Dave logged out and in again) is refused.
    let profile = dave.get("/account").await.unwrap();
    let csrf = profile.csrf().to_owned();
    let start = dave
        .post("/account/link/facebook", &[("csrf", &csrf)])
        .await
        .unwrap();
    assert_eq!(start.status, 303);
    let callback = through_provider("facebook", start.header("location")).await;
    dave.logout().await.unwrap();
    assert_eq!(dave.login("dave", PASSWORD, "/").await.unwrap().status, 303);
    let refused = dave.get(&callback).await.unwrap();
    assert_eq!(refused.status, 303);
    assert!(
        refused
            .header("location")
            .starts_with("/login?error=facebook-expired"),
        "{}",
        refused.header("location")
    );
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);
    let profile = dave.get("/account").await.unwrap();
    assert_eq!(signed_in_as(&profile), Some("Hello, dave"));
    assert_eq!(
        profile.text_of_id("method-facebook-status"),
        Some("Not linked")
    );

    // Cancelled at the provider: back to the profile, nothing linked.
    control(
        "/facebook/deny-next",
        serde_json::json!({"error": "access_denied"}),
    )
    .await;
    let (answer, _) = link(&mut dave, "facebook").await;
    assert_eq!(answer.header("location"), "/account?notice=facebook-denied");
    let profile = dave.get(answer.header("location")).await.unwrap();
    assert_eq!(
        profile.text_of_id("profile-problem"),
        Some("You cancelled linking Facebook, so nothing changed.")
    );
    assert_eq!(signed_in_as(&profile), Some("Hello, dave"));
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);
    // A code the provider refuses: likewise, with the failure in words.
    control("/facebook/fail-next-token", serde_json::json!({})).await;
    let (answer, _) = link(&mut dave, "facebook").await;
    assert_eq!(answer.header("location"), "/account?notice=facebook-failed");
    let profile = dave.get(answer.header("location")).await.unwrap();
    assert!(
        profile
            .text_of_id("profile-problem")
            .is_some_and(|t| t.starts_with("Sorry, we could not link Facebook")),
        "{}",
        profile.body
    );
    assert_eq!(signed_in_as(&profile), Some("Hello, dave"));
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);
    // And when nothing goes wrong, Facebook is linked to Dave.
    let (answer, _) = link(&mut dave, "facebook").await;
    assert_eq!(answer.header("location"), "/account?notice=facebook-linked");
    assert_eq!(
        one_text(
            &shop,
            "SELECT string_agg(a.username || ':' || i.provider, ',' ORDER BY i.provider) \
             FROM shop.oauth_identities i JOIN shop.accounts a USING (account_id)"
        )
        .await
        .as_deref(),
        Some("dave:facebook,carol:google")
    );
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_last_way_to_log_in_cannot_be_unlinked() {
    let _control = take_providers().await;
    let shop = start_shop(&[], With::Both).await;
    // Google's default user makes an account with no password.
    let mut alice = Customer::new(&shop);
    let login = provider_login(&mut alice, "google", "/").await;
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    let profile = alice.get("/account").await.unwrap();
    assert_eq!(
        profile.text_of_id("method-password-status"),
        Some("Not set")
    );
    assert_eq!(
        profile.text_of_id("method-google-status"),
        Some("Linked (alice@gmail.test)")
    );
    assert!(!profile.body.contains("id=\"unlink-google\""), "no button");
    assert!(profile.text_of_id("only-way").is_some());

    // The POST anyway: refused with the reason, nothing changes.
    let refused = post_from_profile(&mut alice, "/account/unlink/google", &[]).await;
    assert_eq!(refused.status, 303);
    assert_eq!(refused.header("location"), "/account?notice=google-last");
    let profile = alice.get(refused.header("location")).await.unwrap();
    assert_eq!(
        profile.text_of_id("profile-problem"),
        Some(
            "Google is the only way to log in to this account, so it was not unlinked. Set a \
             password or link another way first."
        )
    );
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);

    // With Facebook linked too, either may go, but not both.
    let (answer, _) = link(&mut alice, "facebook").await;
    assert_eq!(answer.header("location"), "/account?notice=facebook-linked");
    let profile = alice.get("/account").await.unwrap();
    assert_eq!(
        profile.text_of_id("method-facebook-status"),
        Some("Linked (bob@facebook.test)")
    );
    assert!(profile.body.contains("id=\"unlink-google\""));
    assert!(profile.body.contains("id=\"unlink-facebook\""));
    let unlinked = post_from_profile(&mut alice, "/account/unlink/google", &[]).await;
    assert_eq!(
        unlinked.header("location"),
        "/account?notice=google-unlinked"
    );
    let profile = alice.get(unlinked.header("location")).await.unwrap();
    assert_eq!(
        profile.text_of_id("profile-notice"),
        Some("Google is unlinked: you can no longer log in with it.")
    );
    assert_eq!(
        profile.text_of_id("method-google-status"),
        Some("Not linked")
    );
    assert!(profile.body.contains("id=\"link-google\""));
    assert_eq!(
        one_text(
            &shop,
            "SELECT string_agg(provider, ',') FROM shop.oauth_identities"
        )
        .await
        .as_deref(),
        Some("facebook")
    );
    let refused = post_from_profile(&mut alice, "/account/unlink/facebook", &[]).await;
    assert_eq!(refused.header("location"), "/account?notice=facebook-last");
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);
    assert_eq!(
        signed_in_as(&alice.get("/").await.unwrap()),
        Some("Hello, alice.example")
    );

    // Facebook still logs in to this account.
    alice.logout().await.unwrap();
    let login = provider_login(&mut alice, "facebook", "/").await;
    assert_eq!(login.answer.status, 303, "{}", login.answer.body);
    assert_eq!(
        signed_in_as(&alice.get("/").await.unwrap()),
        Some("Hello, alice.example")
    );
    assert_eq!(shop.count("accounts").await.unwrap(), 1);
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn an_account_made_by_google_sets_a_password_and_logs_in_with_it() {
    let _control = take_providers().await;
    let shop = start_shop(&[], With::Both).await;
    let mut alice = Customer::new(&shop);
    provider_login(&mut alice, "google", "/").await;
    let profile = alice.get("/account").await.unwrap();
    assert_eq!(profile.text_of_id("save-password"), Some("Set password"));
    assert!(
        !profile.body.contains("id=\"current-password\""),
        "there is no current password to ask for"
    );

    // The registration rules, and the same password twice.
    for (password, confirm, error) in [
        ("short", "short", "Passwords are at least 8 characters long"),
        ("password", "password", "That password is too common."),
        (
            PASSWORD,
            NEW_PASSWORD,
            "The two new passwords are not the same.",
        ),
    ] {
        let refused = post_from_profile(
            &mut alice,
            "/account/password",
            &[("password", password), ("confirm", confirm)],
        )
        .await;
        assert_eq!(refused.status, 200);
        let shown = refused
            .body
            .split("id=\"password-error\"")
            .nth(1)
            .unwrap_or_default();
        assert!(shown.contains(error), "{error}: {}", refused.body);
        assert!(!refused.body.contains(PASSWORD) && !refused.body.contains(NEW_PASSWORD));
    }
    assert_eq!(password_hash(&shop, "alice.example").await, None);

    let before = alice.cookie.clone();
    let set = post_from_profile(
        &mut alice,
        "/account/password",
        &[("password", PASSWORD), ("confirm", PASSWORD)],
    )
    .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(set.header("location"), "/account?notice=password-set");
    assert_ne!(alice.cookie, before, "the session id rotates");
    let hash = password_hash(&shop, "alice.example").await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let profile = alice.get(set.header("location")).await.unwrap();
    assert_eq!(signed_in_as(&profile), Some("Hello, alice.example"));
    assert_eq!(
        profile.text_of_id("profile-notice"),
        Some("Your password is set: you can now also log in with your username and password.")
    );
    assert_eq!(profile.text_of_id("method-password-status"), Some("Set"));
    assert!(
        profile.body.contains("id=\"unlink-google\""),
        "no longer the only way"
    );
    assert_eq!(signed_in_sessions(&shop).await, 1);

    // The old cookie is worth nothing; username + password now log in.
    let mut old = Customer::new(&shop);
    old.cookie = before;
    assert_eq!(signed_in_as(&old.get("/").await.unwrap()), None);
    alice.logout().await.unwrap();
    let login = alice
        .login("alice.example", PASSWORD, "/account")
        .await
        .unwrap();
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.header("location"), "/account");
    assert_eq!(
        signed_in_as(&alice.get("/account").await.unwrap()),
        Some("Hello, alice.example")
    );
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn changing_a_password_needs_the_current_one_and_logs_out_other_sessions() {
    let shop = ShopUnderTest::start(&[], &[("FUNNYHAT_LOGIN__FREE_ATTEMPTS_PER_ACCOUNT", "3")])
        .await
        .unwrap();
    let mut erin = Customer::new(&shop);
    erin.register("erin", "erin@shop.test", PASSWORD)
        .await
        .unwrap();
    let mut phone = Customer::new(&shop);
    assert_eq!(
        phone.login("erin", PASSWORD, "/").await.unwrap().status,
        303
    );
    assert_eq!(signed_in_sessions(&shop).await, 2);
    let profile = erin.get("/account").await.unwrap();
    assert!(profile.body.contains("id=\"current-password\""));
    assert_eq!(profile.text_of_id("save-password"), Some("Change password"));
    let hash = password_hash(&shop, "erin").await;

    // A wrong current password: nothing changes, nobody is logged out.
    let wrong = post_from_profile(
        &mut erin,
        "/account/password",
        &[
            ("current", "not-my-password"),
            ("password", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(wrong.status, 200);
    assert_eq!(
        wrong.text_of_id("password-error").map(|_| ()),
        Some(()),
        "{}",
        wrong.body
    );
    assert!(
        wrong
            .body
            .contains("Your current password is not right, so nothing changed.")
    );
    assert_eq!(password_hash(&shop, "erin").await, hash);
    assert_eq!(signed_in_sessions(&shop).await, 2);
    assert_eq!(
        signed_in_as(&phone.get("/").await.unwrap()),
        Some("Hello, erin")
    );
    // Missing current password: likewise.
    let missing = post_from_profile(
        &mut erin,
        "/account/password",
        &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(missing.status, 200);
    assert_eq!(password_hash(&shop, "erin").await, hash);

    let before = erin.cookie.clone();
    let changed = post_from_profile(
        &mut erin,
        "/account/password",
        &[
            ("current", PASSWORD),
            ("password", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(
        changed.header("location"),
        "/account?notice=password-changed"
    );
    assert_ne!(erin.cookie, before, "the session id rotates");
    assert_ne!(password_hash(&shop, "erin").await, hash);
    let profile = erin.get(changed.header("location")).await.unwrap();
    assert_eq!(signed_in_as(&profile), Some("Hello, erin"));
    assert_eq!(
        profile.text_of_id("profile-notice"),
        Some(
            "Your password is changed. Everywhere else you were logged in, you are now logged out."
        )
    );
    // The phone's session is gone: its cookie logs nobody in any more.
    assert_eq!(signed_in_sessions(&shop).await, 1);
    let home = phone.get("/").await.unwrap();
    assert_eq!(signed_in_as(&home), None);
    let account = phone.get("/account").await.unwrap();
    assert_eq!(account.status, 303);
    assert_eq!(account.header("location"), "/login?next=%2Faccount");

    // The old password no longer logs in; the new one does.
    let old = phone.login("erin", PASSWORD, "/").await.unwrap();
    assert_eq!(old.status, 200);
    assert_eq!(
        old.text_of_id("form-error"),
        Some("Wrong username or password.")
    );
    assert_eq!(
        phone.login("erin", NEW_PASSWORD, "/").await.unwrap().status,
        303
    );

    // Guessing the current password is rate-limited as logging in is: backoff and 429.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let page = post_from_profile(
            &mut erin,
            "/account/password",
            &[
                ("current", "a-guess-at-it"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
        statuses.push(page.status);
        if page.status == 429 {
            assert!(page.header("retry-after").parse::<u64>().is_ok());
            break;
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
    assert_ne!(
        password_hash(&shop, "erin").await,
        hash,
        "still the new one"
    );
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_profile_forms_need_the_csrf_token() {
    let _control = take_providers().await;
    let shop = start_shop(&[], With::Both).await;
    let mut gina = Customer::new(&shop);
    gina.register("gina", "gina@shop.test", PASSWORD)
        .await
        .unwrap();
    let (answer, _) = link(&mut gina, "google").await;
    assert_eq!(answer.header("location"), "/account?notice=google-linked");
    let hash = password_hash(&shop, "gina").await;
    let forms: [(&str, &[(&str, &str)]); 3] = [
        ("/account/link/facebook", &[]),
        ("/account/unlink/google", &[]),
        (
            "/account/password",
            &[
                ("current", PASSWORD),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        ),
    ];
    for (path, fields) in forms {
        for token in [None, Some("forged-token"), Some("")] {
            let mut form: Vec<(&str, &str)> = fields.to_vec();
            if let Some(t) = token {
                form.push(("csrf", t));
            }
            let page = gina.post(path, &form).await.unwrap();
            assert_eq!(page.status, 403, "{path} {token:?}");
        }
    }
    // Nothing happened: no login started, Google still linked, the same password, still logged in.
    assert_eq!(shop.count("oauth_logins").await.unwrap(), 0);
    assert_eq!(
        one_text(
            &shop,
            "SELECT string_agg(provider, ',') FROM shop.oauth_identities"
        )
        .await
        .as_deref(),
        Some("google")
    );
    assert_eq!(password_hash(&shop, "gina").await, hash);
    assert_eq!(signed_in_sessions(&shop).await, 1);
    assert_eq!(
        signed_in_as(&gina.get("/").await.unwrap()),
        Some("Hello, gina")
    );
    // Not logged in at all: the forms lead to the login page, changing nothing.
    let mut stranger = Customer::new(&shop);
    stranger.get("/").await.unwrap();
    for path in ["/account/unlink/google", "/account/password"] {
        let page = stranger.post(path, &[("csrf", "")]).await.unwrap();
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.header("location"), "/login?next=%2Faccount");
    }
    assert_eq!(shop.count("oauth_identities").await.unwrap(), 1);
    control("/reset", serde_json::json!({})).await;
    shop.finish().await.unwrap();
}
