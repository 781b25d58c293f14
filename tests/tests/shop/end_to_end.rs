//! The whole path of the architecture walkthrough on the running stack: a stock-staff change in the
//! legacy MariaDB, replicated by the stack's bridge, reaches the stack's shop — its product page and
//! an open live-stock stream. The hat is new, with an id nobody else uses, so other tests (and the
//! demo data) are left alone.

use crate::support::{EVENTUALLY, EventReader, Page, eventually};
use mysql_async::prelude::Queryable;
use std::path::Path;
use std::time::Duration;
use tests::stack::env;

/// Generous: the bridge, the shop and the tests share two cores.
const REPLICATED: Duration = Duration::from_secs(60);

async fn stock_line(http: &reqwest::Client, url: &str) -> anyhow::Result<(u16, String)> {
    let response = http.get(url).send().await?;
    let status = response.status().as_u16();
    let page = Page {
        status,
        headers: response.headers().clone(),
        body: response.text().await?,
    };
    Ok((
        status,
        page.text_of_id("stock").unwrap_or_default().to_owned(),
    ))
}

#[tokio::test]
async fn a_legacy_stock_change_reaches_the_product_page_and_its_stream() {
    let ca = env("LEGACY_MYSQL_CA");
    let opts =
        tests::legacy::connect::opts(&env("LEGACY_MYSQL_APP_URL"), Some(Path::new(&ca))).unwrap();
    let mut legacy = mysql_async::Conn::new(opts).await.unwrap();
    // Above every demo id and below 2^63; unique per run.
    let id: u64 = 7_000_000_000_000
        + u64::from_str_radix(&tests::stack::uuid_like()[8..], 16).unwrap() % 1_000_000_000;
    let sku = format!("FH-E2E-{id}");
    legacy
        .exec_drop(
            "INSERT INTO items (id, sku, name, description, category_id, price, vat_included) \
             VALUES (?, ?, 'Test Pattern Deerstalker', 'Made for the end-to-end test.', 1, '31.5000', 1)",
            (id, &sku),
        )
        .await
        .unwrap();
    legacy
        .exec_drop(
            "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (?, 1, 2)",
            (id,),
        )
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let url = format!("{}/hats/{id}", env("SHOP_URL"));
    eventually("the new hat on the shop", REPLICATED, || async {
        let (status, line) = stock_line(&http, &url).await?;
        Ok(status == 200 && line == "Only 2 left")
    })
    .await
    .unwrap();

    let stream = http
        .get(format!("{url}/stock/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut events = EventReader::new(stream);
    assert_eq!(
        events.next_stock(EVENTUALLY).await.unwrap()["text"],
        "Only 2 left"
    );

    // Stock staff sell the last two on the shop floor.
    legacy
        .exec_drop(
            "UPDATE stock_levels SET quantity = 0 WHERE item_id = ? AND location_id = 1",
            (id,),
        )
        .await
        .unwrap();
    events
        .wait_for_stock("Out of stock on the open page", |e| {
            e["text"] == "Out of stock"
        })
        .await
        .unwrap();
    let (_, line) = stock_line(&http, &url).await.unwrap();
    assert_eq!(line, "Out of stock");

    // Removed from the catalogue in the legacy app: the page says so.
    legacy
        .exec_drop("UPDATE items SET is_deleted = 1 WHERE id = ?", (id,))
        .await
        .unwrap();
    eventually("the deleted hat's page", REPLICATED, || async {
        Ok(http.get(&url).send().await?.status() == 410)
    })
    .await
    .unwrap();
    legacy.disconnect().await.unwrap();
}

/// What every `<img>` on the open page shows: (natural width, the URL it loaded).
const IMAGES_SCRIPT: &str =
    "return Array.from(document.images).map(i => [i.naturalWidth, i.currentSrc]);";

#[tokio::test]
async fn every_picture_on_the_stack_shop_loads_in_chromium() {
    // The stack's bridge makes the demo's pictures (62, one of them 17.6 MiB) on the shared cores.
    let db = sqlx::PgPool::connect(&env("SHOP_DATABASE_URL"))
        .await
        .unwrap();
    crate::support::demo_pictures_made(&db).await;
    // The hats the home list shows with a picture (other tests add hats, some without one).
    let shown: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stock.stock_available a JOIN stock.images i USING (item_key)
         WHERE a.sellable AND i.status = 'ready'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    // The demo has 58 sellable hats with a good picture; the foundation tests' simulator run (20
    // random stock transactions on this shared source) may have deleted a few of them.
    assert!(shown >= 30, "only {shown} demo pictures ready");
    let hats: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.stock_available WHERE sellable")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;

    let media = env("MEDIA_BASE_URL");
    let browser = tests::browser::Browser::start(1280, 900).await.unwrap();
    let mut from_cdn = 0;
    // Every page of the home list (24 hats a page; asking past the last page shows the last).
    for page in 1..=(hats + 23) / 24 {
        browser
            .goto(&format!("{}/?page={page}", env("SHOP_URL")))
            .await
            .unwrap();
        crate::browser::load_every_picture(&browser).await;
        let images = browser.eval(IMAGES_SCRIPT).await.unwrap();
        for image in images.as_array().unwrap() {
            let (width, src) = (image[0].as_u64().unwrap(), image[1].as_str().unwrap());
            assert!(width > 0, "page {page}: {src} did not load");
            if src.starts_with(&media) {
                from_cdn += 1;
                assert!(src.ends_with(".webp"), "Chromium takes the WebP: {src}");
            }
        }
    }
    assert_eq!(from_cdn, shown, "every ready picture came from the CDN");
    browser.screenshot("shop-home-pictures-1280").await.unwrap();
    browser.quit().await.unwrap();
}
