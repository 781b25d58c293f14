//! Search: any input is safe. `%`, `_` and `\` match themselves (never as wildcards), long input is
//! truncated, non-UTF-8 is tolerated, and what was typed is shown back escaped.

use crate::support::{Hat, ShopUnderTest};

fn hats() -> Vec<Hat> {
    vec![
        Hat::new("1", "100% Wool Beret", 5),
        Hat::new("2", "Top_Hat Deluxe", 5),
        Hat::new("3", "Back\\slash Cap", 5),
        Hat::new("4", "Bowler", 5),
        Hat::new("5", "Woolly Bobble Hat", 5).category("Winter Warmers"),
    ]
}

/// The names a search page lists.
fn found(body: &str) -> Vec<&'static str> {
    [
        "100% Wool Beret",
        "Top_Hat Deluxe",
        "Back\\slash Cap",
        "Bowler",
        "Woolly Bobble Hat",
    ]
    .into_iter()
    .filter(|name| body.contains(&format!("<h2>{name}</h2>")))
    .collect()
}

#[tokio::test]
async fn wildcards_match_only_themselves() {
    let shop = ShopUnderTest::start(&hats(), &[]).await.unwrap();
    for (query, expected) in [
        ("%25", vec!["100% Wool Beret"]),
        ("_", vec!["Top_Hat Deluxe"]),
        ("%5C", vec!["Back\\slash Cap"]),
        ("bowler", vec!["Bowler"]),
        ("BOWLER", vec!["Bowler"]),
        ("wool", vec!["100% Wool Beret", "Woolly Bobble Hat"]),
        ("wool+beret", vec!["100% Wool Beret"]),
        ("winter", vec!["Woolly Bobble Hat"]),
        ("%25%25", vec![]),
        ("_%25_", vec![]),
    ] {
        let page = shop.get(&format!("/search?q={query}")).await.unwrap();
        assert_eq!(page.status, 200, "q={query}");
        assert_eq!(found(&page.body), expected, "q={query}");
    }
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn long_empty_and_non_utf8_queries_are_answered() {
    let shop = ShopUnderTest::start(&hats(), &[]).await.unwrap();
    let long = "bowler".repeat(2_000);
    let page = shop.get(&format!("/search?q={long}")).await.unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No hats match"));
    assert!(
        page.body.len() < 20_000,
        "the echo of the query is truncated"
    );

    let many_words = "bowler ".repeat(500);
    let page = shop
        .get(&format!("/search?q={}", many_words.replace(' ', "+")))
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(found(&page.body), ["Bowler"]);

    for query in ["", "+++", "%FF%FE%FD", "%E2%28%A1", "%00", "%zz"] {
        let page = shop.get(&format!("/search?q={query}")).await.unwrap();
        assert_eq!(page.status, 200, "q={query}");
    }
    let page = shop.get("/search").await.unwrap();
    assert!(page.body.contains("Type a word or two"));
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_query_is_echoed_escaped_and_paging_keeps_it() {
    let mut hats: Vec<Hat> = (1..=15)
        .map(|i| Hat::new(&i.to_string(), &format!("Party Hat {i:02}"), 10))
        .collect();
    hats.push(Hat::new("99", "Bowler", 1));
    let shop = ShopUnderTest::start(&hats, &[("FUNNYHAT_CATALOGUE__PAGE_SIZE", "10")])
        .await
        .unwrap();
    let page = shop
        .get("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22")
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>alert(1)"));
    assert!(
        page.body
            .contains("value=\"&#60;script&#62;alert(1)&#60;/script&#62;&#34;\""),
        "{}",
        page.body
    );

    let first = shop.get("/search?q=party+hat&page=-3").await.unwrap();
    assert!(first.body.contains("15 hats match"));
    assert!(first.body.contains("Page 1 of 2"));
    assert!(
        first
            .body
            .contains("href=\"/search?q=party+hat&#38;page=2\""),
        "{}",
        first.body
    );
    let second = shop.get("/search?q=party+hat&page=2").await.unwrap();
    assert!(second.body.contains("Party Hat 15") && !second.body.contains("Party Hat 01"));
    let huge = shop.get("/search?q=party+hat&page=1e99").await.unwrap();
    assert!(huge.body.contains("Page 1 of 2"));
    shop.finish().await.unwrap();
}
