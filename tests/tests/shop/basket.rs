//! The anonymous basket: add, change and remove with POST forms; availability, price changes and
//! unavailable hats flagged on the basket page rather than silently changed; the caps; the lag
//! guard refusing to add while keeping the basket; the cleanup job for old anonymous baskets; the
//! open basket page's live stock flags.

use crate::support::{Customer, EVENTUALLY, EventReader, Hat, ShopUnderTest, Sse, eventually};

#[tokio::test]
async fn add_change_and_remove_anonymously() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 5), Hat::new("2", "Bowler", 10)],
        &[],
    )
    .await
    .unwrap();
    let mut alice = Customer::new(&shop);
    let product = alice.get("/hats/1").await.unwrap();
    assert!(product.body.contains("Add to basket"));
    assert_eq!(product.csrf(), "", "no session yet, so no token");
    assert_eq!(product.basket_count(), Some(0));

    let basket = alice.add("1", 2).await.unwrap();
    assert_eq!(basket.status, 200);
    assert!(
        basket.body.contains("Added to your basket."),
        "{}",
        basket.body
    );
    assert!(basket.body.contains("Top Hat"));
    assert_eq!(basket.basket_count(), Some(2));
    assert_eq!(basket.text_of_id("basket-total"), Some("£50.00"));
    assert_eq!(basket.header("cache-control"), "private, no-store");
    assert_eq!(alice.set_cookies.len(), 1, "{:?}", alice.set_cookies);
    assert_eq!(shop.count("sessions").await.unwrap(), 1);
    assert_eq!(shop.basket_lines().await.unwrap(), [("1".to_owned(), 2)]);

    let basket = alice.add("2", 1).await.unwrap();
    assert_eq!(basket.basket_count(), Some(3));
    assert_eq!(alice.set_cookies.len(), 1, "the session is reused");
    let basket = alice.add("1", 1).await.unwrap();
    assert_eq!(basket.basket_count(), Some(4));
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 3), ("2".to_owned(), 1)]
    );

    let basket = alice.set_quantity("1", 1).await.unwrap();
    assert!(basket.body.contains("Your basket has been updated."));
    assert_eq!(basket.basket_count(), Some(2));

    let csrf = basket.csrf().to_owned();
    let basket = alice
        .submit("/basket/remove", &[("item_key", "2"), ("csrf", &csrf)])
        .await
        .unwrap();
    assert!(basket.body.contains("Removed from your basket."));
    assert!(!basket.body.contains("Bowler"));
    assert_eq!(basket.basket_count(), Some(1));
    let basket = alice.set_quantity("1", 0).await.unwrap();
    assert!(basket.body.contains("Your basket is empty."));
    assert!(shop.basket_lines().await.unwrap().is_empty());
    // Catalogue pages for a visitor with a session are not for shared caches either.
    let home = alice.get("/").await.unwrap();
    assert_eq!(home.header("cache-control"), "private, no-store");
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn availability_price_and_deletion_are_flagged_not_changed() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 3), Hat::new("2", "Bowler", 4)],
        &[],
    )
    .await
    .unwrap();
    let mut bob = Customer::new(&shop);
    // More than there is: refused, and nothing is made (no session, no basket).
    let basket = bob.add("1", 4).await.unwrap();
    assert!(basket.body.contains("we do not have that many in stock"));
    assert!(bob.set_cookies.is_empty());
    assert_eq!(shop.count("sessions").await.unwrap(), 0);
    assert_eq!(shop.count("baskets").await.unwrap(), 0);

    bob.add("1", 3).await.unwrap();
    bob.add("2", 1).await.unwrap();
    let basket = bob.add("1", 1).await.unwrap();
    assert!(basket.body.contains("we do not have that many in stock"));

    // Stock falls below the line; the price changes; the other hat is deleted in the legacy app.
    shop.set_on_hand("1", 1).await.unwrap();
    sqlx::query("UPDATE stock.items SET price_minor = 3000 WHERE item_key = '1'")
        .execute(&shop.bridge)
        .await
        .unwrap();
    sqlx::query("UPDATE stock.items SET deleted = true WHERE item_key = '2'")
        .execute(&shop.bridge)
        .await
        .unwrap();
    let basket = bob.get("/basket").await.unwrap();
    assert!(
        basket.body.contains("Only 1 available now"),
        "{}",
        basket.body
    );
    assert!(basket.body.contains("£30.00"));
    assert!(basket.body.contains("was £25.00 when you added it"));
    assert!(basket.body.contains("No longer available"));
    assert!(
        basket.body.contains("Bowler"),
        "a deleted hat stays, marked"
    );
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 3), ("2".to_owned(), 1)],
        "nothing silently changed"
    );
    // Lowering is always allowed; then the line is fine again.
    let basket = bob.set_quantity("1", 1).await.unwrap();
    assert!(!basket.body.contains("Only 1 available now"));
    assert!(
        !basket.body.contains("was £25.00"),
        "the new price was seen"
    );
    // A hat that cannot be sold cannot be added.
    let basket = bob.add("2", 1).await.unwrap();
    assert!(basket.body.contains("that hat is not available"));
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn the_caps_are_settings() {
    let shop = ShopUnderTest::start(
        &[
            Hat::new("1", "Top Hat", 50),
            Hat::new("2", "Bowler", 50),
            Hat::new("3", "Fez", 50),
        ],
        &[
            ("FUNNYHAT_BASKET__MAX_LINE_QUANTITY", "4"),
            ("FUNNYHAT_BASKET__MAX_LINES", "2"),
        ],
    )
    .await
    .unwrap();
    let mut carol = Customer::new(&shop);
    carol.add("1", 4).await.unwrap();
    let basket = carol.add("1", 1).await.unwrap();
    assert!(
        basket.body.contains("at most 4 of one hat"),
        "{}",
        basket.body
    );
    let basket = carol.set_quantity("1", 5).await.unwrap();
    assert!(basket.body.contains("at most 4 of one hat"));
    carol.add("2", 1).await.unwrap();
    let basket = carol.add("3", 1).await.unwrap();
    assert!(basket.body.contains("at most 2 different hats"));
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 4), ("2".to_owned(), 1)]
    );
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn past_the_hard_limit_adding_is_refused_and_the_basket_kept() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 5), Hat::new("2", "Bowler", 5)],
        &[],
    )
    .await
    .unwrap();
    let mut dan = Customer::new(&shop);
    dan.add("1", 1).await.unwrap();
    shop.caught_up_secs_ago(600).await.unwrap();
    let product = shop
        .wait_for_page("/hats/2", "showing the banner", |p| p.banner_shown())
        .await
        .unwrap();
    assert!(
        product
            .body
            .contains("id=\"add-to-basket\" type=\"submit\" disabled")
    );
    assert!(product.body.contains("Adding to baskets is paused"));

    let basket = dan.add("2", 1).await.unwrap();
    assert!(
        basket
            .body
            .contains("we cannot add hats to baskets right now"),
        "{}",
        basket.body
    );
    assert!(basket.body.contains("Your basket is kept"));
    assert!(basket.body.contains("Top Hat"));
    assert_eq!(basket.basket_count(), Some(1));
    assert_eq!(shop.basket_lines().await.unwrap(), [("1".to_owned(), 1)]);

    shop.caught_up_secs_ago(0).await.unwrap();
    shop.wait_for_page("/hats/2", "without the banner", |p| !p.banner_shown())
        .await
        .unwrap();
    let basket = dan.add("2", 1).await.unwrap();
    assert_eq!(basket.basket_count(), Some(2));
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn an_out_of_stock_hat_has_no_add_button_and_cannot_be_added() {
    let shop = ShopUnderTest::start(&[Hat::new("1", "Top Hat", 0)], &[])
        .await
        .unwrap();
    let page = shop.get("/hats/1").await.unwrap();
    assert!(!page.body.contains("Add to basket"));
    let mut erin = Customer::new(&shop);
    let basket = erin.add("1", 1).await.unwrap();
    assert!(basket.body.contains("we do not have that many in stock"));
    assert_eq!(shop.count("sessions").await.unwrap(), 0);
    shop.finish().await.unwrap();
}

#[tokio::test]
async fn old_anonymous_baskets_are_cleaned_up() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 5)],
        &[("FUNNYHAT_BASKET__CLEANUP_INTERVAL_SECS", "1")],
    )
    .await
    .unwrap();
    let mut old = Customer::new(&shop);
    old.add("1", 1).await.unwrap();
    let mut recent = Customer::new(&shop);
    recent.add("1", 2).await.unwrap();
    // An account's basket, just as old, is never cleaned up.
    shop.exec(
        "WITH a AS (INSERT INTO shop.accounts (username, email, password_hash) \
           VALUES ('frank', 'frank@example.test', 'x') RETURNING account_id) \
         INSERT INTO shop.baskets (account_id, updated_at) \
         SELECT account_id, now() - interval '31 days' FROM a",
    )
    .await
    .unwrap();
    // The session first: the job may run between the two statements.
    let aged = shop
        .exec(
            "UPDATE shop.sessions SET last_seen_at = now() - interval '31 days' \
             WHERE basket_id = (SELECT basket_id FROM shop.basket_lines WHERE quantity = 1)",
        )
        .await
        .unwrap();
    assert_eq!(aged, 1);
    let aged = shop
        .exec(
            "UPDATE shop.baskets SET updated_at = now() - interval '31 days' \
             WHERE basket_id = (SELECT basket_id FROM shop.basket_lines WHERE quantity = 1)",
        )
        .await
        .unwrap();
    assert_eq!(aged, 1);
    eventually("the old basket is gone", EVENTUALLY, || async {
        Ok(shop.count("baskets").await? == 2 && shop.count("sessions").await? == 1)
    })
    .await
    .unwrap();
    assert_eq!(shop.basket_lines().await.unwrap(), [("1".to_owned(), 2)]);
    assert_eq!(shop.count("sessions").await.unwrap(), 1);
    let basket = old.get("/basket").await.unwrap();
    assert!(basket.body.contains("Your basket is empty."));
    let basket = recent.get("/basket").await.unwrap();
    assert_eq!(basket.basket_count(), Some(2));
    shop.finish().await.unwrap();
}

/// The next `basket` event of a basket stream, skipping keep-alives.
async fn next_basket(events: &mut EventReader) -> anyhow::Result<serde_json::Value> {
    loop {
        if let Sse::Event { name, data } = events.next(EVENTUALLY).await?
            && name == "basket"
        {
            return Ok(serde_json::from_str(&data)?);
        }
    }
}

#[tokio::test]
async fn an_open_basket_page_follows_stock_changes() {
    let shop = ShopUnderTest::start(
        &[Hat::new("1", "Top Hat", 5), Hat::new("2", "Bowler", 5)],
        &[],
    )
    .await
    .unwrap();
    // No basket, nothing to watch.
    let nobody = shop
        .http
        .get(shop.url("/basket/stock/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status().as_u16(), 404);

    let mut pat = Customer::new(&shop);
    let page = pat.add("1", 3).await.unwrap();
    assert!(page.body.contains("data-events=\"/basket/stock/events\""));
    assert!(page.body.contains("/static/basket-live.js"));
    pat.add("2", 1).await.unwrap();
    let response = shop
        .http
        .get(shop.url("/basket/stock/events"))
        .header("cookie", pat.cookie.clone().unwrap())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut events = EventReader::new(response);
    let first = next_basket(&mut events).await.unwrap();
    assert_eq!(
        first,
        serde_json::json!({"lines": [["1", ""], ["2", ""]], "refreshing": false})
    );
    shop.set_on_hand("1", 2).await.unwrap();
    let changed = next_basket(&mut events).await.unwrap();
    assert_eq!(
        changed["lines"][0],
        serde_json::json!(["1", "Only 2 available now: please lower the quantity."])
    );
    shop.set_on_hand("2", 0).await.unwrap();
    let changed = next_basket(&mut events).await.unwrap();
    assert_eq!(
        changed["lines"][1],
        serde_json::json!(["2", "Out of stock now: please remove it to continue."])
    );
    // The basket itself was not changed.
    assert_eq!(
        shop.basket_lines().await.unwrap(),
        [("1".to_owned(), 3), ("2".to_owned(), 1)]
    );
    shop.finish().await.unwrap();
}
