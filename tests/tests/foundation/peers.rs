//! Every server of the local stack answers where `.stack/env` says it is, as its clients expect.

use tests::browser::Browser;
use tests::stack::env;

async fn status(url: &str) -> u16 {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_peer_answers() {
    // s3s-fs checks signatures: an unsigned request is refused, which also proves it is up.
    assert_eq!(status(&format!("{}/", env("S3_ENDPOINT"))).await, 403);
    assert_eq!(
        status(&format!("{}/api/healthz", env("MAIL_API_URL"))).await,
        200
    );
    for provider in ["OAUTH_GOOGLE_URL", "OAUTH_FACEBOOK_URL"] {
        let base = env(provider);
        let discovery: serde_json::Value =
            reqwest::get(format!("{base}/.well-known/openid-configuration"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        assert_eq!(
            discovery["issuer"],
            base.as_str(),
            "{provider}: issuer must be the loopback URL"
        );
    }
    assert_eq!(
        status(&format!("{}/healthz", env("OAUTH_CONTROL_URL"))).await,
        200
    );
    let stripe = reqwest::Client::new();
    let customers = stripe
        .get(format!("{}/v1/customers", env("STRIPE_API_URL")))
        .basic_auth(env("STRIPE_SECRET_KEY"), Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(customers.status(), 200);
    let anonymous = stripe
        .get(format!("{}/v1/customers", env("STRIPE_API_URL")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "localstripe must want a key");
}

#[tokio::test]
async fn the_cdn_serves_bucket_objects_read_only() {
    let name = format!("foundation-{}.txt", tests::stack::uuid_like());
    let object = std::path::PathBuf::from(env("STACK_DIR"))
        .join("s3")
        .join(env("S3_BUCKET"))
        .join(&name);
    std::fs::write(&object, "a hat").unwrap();
    let url = format!("{}/{name}", env("MEDIA_BASE_URL"));
    let got = reqwest::get(&url).await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(
        got.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(got.text().await.unwrap(), "a hat");
    let put = reqwest::Client::new()
        .put(&url)
        .body("overwritten")
        .send()
        .await
        .unwrap();
    assert!(
        put.status().is_client_error(),
        "the CDN must be read-only, got {}",
        put.status()
    );
    std::fs::remove_file(object).unwrap();
    assert_eq!(status(&url).await, 404);
}

#[tokio::test]
async fn a_browser_shows_the_shop() {
    let browser = Browser::start(1280, 900).await.unwrap();
    browser.goto(&env("SHOP_URL")).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "The Funny Hat Shop");
    let heading = browser
        .eval("return document.querySelector('h1').textContent")
        .await
        .unwrap();
    assert_eq!(heading, "Hats that make people smile");
    // The stylesheet loaded under the CSP (a blocked one would leave the header unstyled).
    let border = browser
        .eval("return getComputedStyle(document.querySelector('.site-header')).borderBottomStyle")
        .await
        .unwrap();
    assert_eq!(border, "solid");
    browser.screenshot("foundation-home-1280").await.unwrap();
    browser.quit().await.unwrap();

    // A phone: the page fits without sideways scrolling.
    let phone = Browser::start(375, 800).await.unwrap();
    phone.goto(&env("SHOP_URL")).await.unwrap();
    let overflow = phone
        .eval("return document.documentElement.scrollWidth - window.innerWidth")
        .await
        .unwrap();
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "horizontal scroll of {overflow}px at 375px"
    );
    phone.screenshot("foundation-home-375").await.unwrap();
    phone.quit().await.unwrap();
}
