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
