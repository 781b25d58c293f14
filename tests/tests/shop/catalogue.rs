//! The catalogue pages: what is listed, how stock is worded, tombstones and unsellable hats,
//! escaping, pictures, paging, the information pages and the response headers.

use crate::support::{Hat, ShopUnderTest};

const SCRIPT_NAME: &str = "Jester Hat <script>alert(1)</script>";

fn demo_hats() -> Vec<Hat> {
    vec![
        Hat::new("1", "Bowler", 20),
        Hat::new("2", "Top Hat", 3),
        Hat::new("3", "Fez", 0).category("Party & Novelty"),
        Hat::new("4", "Old Flat Cap", 7).deleted(),
        Hat::new("5", "Twin Trilby", 9).duplicate_sku(),
        Hat::new("6", SCRIPT_NAME, 12)
            .category("Costume & Fancy Dress")
            .no_description(),
    ]
}

#[tokio::test]
async fn pages_list_sellable_hats_with_honest_stock_words() {
    let shop = ShopUnderTest::start(&demo_hats(), &[]).await.unwrap();

    let home = shop.get("/").await.unwrap();
    assert_eq!(home.status, 200);
    assert_eq!(home.header("cache-control"), "no-cache");
    let csp = home.header("content-security-policy");
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    for text in [
        "Bowler",
        "In stock",
        "Top Hat",
        "Only 3 left",
        "Fez",
        "Out of stock",
        "£25.00",
    ] {
        assert!(
            home.body.contains(text),
            "home lacks {text:?}:\n{}",
            home.body
        );
    }
    assert!(
        !home.body.contains("Old Flat Cap"),
        "a tombstone is not listed"
    );
    assert!(
        !home.body.contains("Twin Trilby"),
        "an unsellable hat is not listed"
    );
    // The header: navigation by category, a labelled search box, footer pages.
    for text in [
        "href=\"/categories/classic-hats\"",
        "href=\"/categories/party-novelty\"",
        "href=\"/categories/costume-fancy-dress\"",
        "<label for=\"search-q\">",
        "id=\"search-q\"",
        "href=\"/contact\"",
        "href=\"/returns\"",
        "href=\"/privacy\"",
    ] {
        assert!(home.body.contains(text), "home lacks {text:?}");
    }
    assert!(!home.banner_shown(), "fresh stock: no banner");

    let category = shop.get("/categories/party-novelty").await.unwrap();
    assert_eq!(category.status, 200);
    // askama escapes `&` as `&#38;`.
    assert!(category.body.contains("<h1>Party &#38; Novelty</h1>"));
    assert!(category.body.contains("Fez") && category.body.contains("Out of stock"));
    assert!(!category.body.contains("Bowler"));
    assert_eq!(
        shop.get("/categories/no-such-thing").await.unwrap().status,
        404
    );

    let product = shop.get("/hats/2").await.unwrap();
    assert_eq!(product.status, 200);
    assert_eq!(product.text_of_id("stock"), Some("Only 3 left"));
    assert!(product.body.contains("£25.00"));
    assert!(product.body.contains("incl. VAT"));
    assert!(product.body.contains("A fine Top Hat, made to last."));
    // The page's one script carries this response's CSP nonce, and only this response's: the
    // next view of the same page has another.
    let nonce_of = |page: &crate::support::Page| {
        let csp = page.header("content-security-policy");
        let nonce = csp
            .split("script-src 'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("no nonce in {csp}"))
            .to_owned();
        assert!(nonce.len() >= 22, "a nonce of 128 bits: {nonce}");
        nonce
    };
    let nonce = nonce_of(&product);
    assert!(
        product.body.contains(&format!(
            "<script src=\"/static/live-stock.js\" nonce=\"{nonce}\""
        )),
        "{}",
        product.body
    );
    let again = shop.get("/hats/2").await.unwrap();
    assert_ne!(nonce_of(&again), nonce, "a fresh nonce per response");
    assert!(
        product.body.contains("/static/hat-placeholder.svg"),
        "no picture yet: the placeholder shows"
    );
    assert_eq!(
        shop.get("/hats/1").await.unwrap().text_of_id("stock"),
        Some("In stock")
    );
    let out = shop.get("/hats/3").await.unwrap();
    assert_eq!(out.text_of_id("stock"), Some("Out of stock"));
    assert!(!out.body.to_lowercase().contains("add to basket"));

    shop.finish().await.unwrap();
}

#[tokio::test]
async fn tombstoned_unsellable_and_unknown_hats_say_so() {
    let shop = ShopUnderTest::start(&demo_hats(), &[]).await.unwrap();

    let gone = shop.get("/hats/4").await.unwrap();
    assert_eq!(gone.status, 410);
    assert!(gone.body.contains("Old Flat Cap"));
    assert!(gone.body.contains("This hat is no longer available."));
    assert!(!gone.body.contains("£25.00"), "no price for a deleted hat");
    assert!(!gone.body.contains("live-stock.js"));

    let unavailable = shop.get("/hats/5").await.unwrap();
    assert_eq!(unavailable.status, 200);
    assert!(
        unavailable
            .body
            .contains("This hat is currently unavailable.")
    );
    assert!(!unavailable.body.contains("£25.00"));

    let unknown = shop.get("/hats/no-such-hat").await.unwrap();
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("could not find that page"));
    // Keys are path segments: anything percent-encoded is looked up, never an error.
    assert_eq!(shop.get("/hats/%FF%00'%22").await.unwrap().status, 404);

    shop.finish().await.unwrap();
}

#[tokio::test]
async fn a_script_in_a_hat_name_is_shown_as_text() {
    let shop = ShopUnderTest::start(&demo_hats(), &[]).await.unwrap();
    for path in [
        "/",
        "/categories/costume-fancy-dress",
        "/hats/6",
        "/search?q=jester",
    ] {
        let page = shop.get(path).await.unwrap();
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.body
                .contains("Jester Hat &#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path} does not show the name escaped:\n{}",
            page.body
        );
        assert!(!page.body.contains("<script>alert(1)"), "{path}: unescaped");
    }
    // A NULL description shows nothing, not "None".
    let product = shop.get("/hats/6").await.unwrap();
    assert!(!product.body.contains("class=\"description\""));
    assert!(!product.body.contains("None"));
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn a_ready_picture_gets_responsive_thumbnails() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Bowler", 20)], &[])
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO stock.images (item_key, status, keys, width, height, alt_text) \
         VALUES ('1', 'ready', $1, 2000, 1500, 'A black bowler hat')",
    )
    .bind(serde_json::json!({
        "160.webp": "items/1/abc/160.webp",
        "480.webp": "items/1/abc/480.webp",
        "960.webp": "items/1/abc/960.webp"
    }))
    .execute(&shop.bridge)
    .await
    .unwrap();
    shop.notify(r#"{"pos":"0-1-3","keys":["1"]}"#)
        .await
        .unwrap();
    let media = tests::stack::env("MEDIA_BASE_URL");
    let page = shop
        .wait_for_page("/hats/1", "showing the picture", |p| {
            p.body.contains("srcset=")
        })
        .await
        .unwrap();
    assert!(
        page.body.contains(&format!(
            "srcset=\"{media}/items/1/abc/160.webp 160w, {media}/items/1/abc/480.webp 480w, \
             {media}/items/1/abc/960.webp 960w\""
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains("alt=\"A black bowler hat\""));
    assert!(
        page.body
            .contains(&format!("src=\"{media}/items/1/abc/480.webp\""))
    );
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn paging_clamps_whatever_page_is_asked_for() {
    let hats: Vec<Hat> = (1..=30)
        .map(|i| Hat::new(&i.to_string(), &format!("Hat number {i:02}"), 10))
        .collect();
    let shop = ShopUnderTest::start(&hats, &[("FUNNYHAT_CATALOGUE__PAGE_SIZE", "12")])
        .await
        .unwrap();
    for (query, expected) in [
        ("", "Page 1 of 3"),
        ("?page=2", "Page 2 of 3"),
        ("?page=-1", "Page 1 of 3"),
        ("?page=0", "Page 1 of 3"),
        ("?page=99999999999999999999999", "Page 3 of 3"),
        ("?page=4", "Page 3 of 3"),
        ("?page=abc", "Page 1 of 3"),
        ("?page=%FF", "Page 1 of 3"),
        ("?page=2&page=3", "Page 2 of 3"),
    ] {
        let page = shop.get(&format!("/{query}")).await.unwrap();
        assert_eq!(page.status, 200, "{query}");
        assert!(page.body.contains(expected), "{query}: expected {expected}");
    }
    let last = shop.get("/?page=3").await.unwrap();
    assert!(last.body.contains("Hat number 30") && !last.body.contains("Hat number 24"));
    assert!(last.body.contains("href=\"/?page=2\""));
    let category = shop.get("/categories/classic-hats?page=-5").await.unwrap();
    assert!(category.body.contains("Page 1 of 3"));
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn information_pages_exist() {
    let shop = ShopUnderTest::start(&[], &[]).await.unwrap();
    for (path, heading) in [
        ("/contact", "<h1>Contact us</h1>"),
        ("/returns", "<h1>Returns</h1>"),
        ("/privacy", "<h1>Privacy</h1>"),
    ] {
        let page = shop.get(path).await.unwrap();
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains(heading), "{path}");
    }
    let home = shop.get("/").await.unwrap();
    assert!(home.body.contains("No hats to show yet"));
    for asset in ["/static/hat-placeholder.svg", "/static/live-stock.js"] {
        let page = shop.get(asset).await.unwrap();
        assert_eq!(page.status, 200, "{asset}");
    }
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_shop_reads_the_view_and_the_bridge_cannot_touch_it() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Bowler", 4)], &[])
        .await
        .unwrap();
    let reader = shop.db.connect("shop").await.unwrap();
    let available: i32 =
        sqlx::query_scalar("SELECT available FROM stock.stock_available WHERE item_key = '1'")
            .fetch_one(&reader)
            .await
            .unwrap();
    assert_eq!(available, 4);
    let denied = sqlx::query("UPDATE stock.stock_available SET name = 'x'")
        .execute(&reader)
        .await
        .unwrap_err();
    assert!(denied.to_string().contains("permission denied"), "{denied}");
    let denied = sqlx::query("SELECT 1 FROM stock.stock_available")
        .execute(&shop.bridge)
        .await
        .unwrap_err();
    assert!(denied.to_string().contains("permission denied"), "{denied}");
    reader.close().await;
    shop.finish().await.unwrap();
}
