//! The profile page with delivery addresses: only for a logged-in customer, each form with the
//! CSRF token, what was typed shown back escaped with the broken rules, one's own addresses only.

use crate::support::{Customer, ShopUnderTest};

const PASSWORD: &str = "a-very-funny-hat-42";

async fn add(c: &mut Customer, fields: &[(&str, &str)]) -> crate::support::Page {
    let profile = c.get("/account").await.unwrap();
    let csrf = profile.csrf().to_owned();
    let mut form = fields.to_vec();
    form.push(("csrf", &csrf));
    c.post("/account/addresses", &form).await.unwrap()
}

#[tokio::test]
async fn a_customer_keeps_delivery_addresses_on_the_profile() {
    let shop = ShopUnderTest::start(&[], &[]).await.unwrap();
    let mut anon = Customer::new(&shop);
    let page = anon.get("/account").await.unwrap();
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), "/login?next=%2Faccount");

    let mut ann = Customer::new(&shop);
    ann.register("ann", "ann@example.test", PASSWORD)
        .await
        .unwrap();
    let profile = ann.get("/account").await.unwrap();
    assert_eq!(profile.status, 200);
    assert_eq!(profile.text_of_id("profile-username"), Some("ann"));
    assert_eq!(
        profile.text_of_id("profile-email"),
        Some("ann@example.test")
    );
    assert!(profile.body.contains("No delivery addresses yet."));
    assert_eq!(profile.header("cache-control"), "private, no-store");

    let answer = add(
        &mut ann,
        &[
            ("full_name", " Ann Example "),
            ("line1", "1 Hat Street"),
            ("line2", ""),
            ("city", "Leeds"),
            ("postcode", "ls1 4ap"),
            ("country", "GB"),
        ],
    )
    .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), "/account?notice=added");
    let profile = ann.get("/account?notice=added").await.unwrap();
    assert!(profile.body.contains("Address added."));
    assert!(
        profile
            .body
            .contains("Ann Example<br>1 Hat Street<br>Leeds<br>LS1 4AP<br>United Kingdom"),
        "{}",
        profile.body
    );

    // Broken rules: the form again, what was typed escaped, nothing stored.
    let answer = add(
        &mut ann,
        &[
            ("full_name", "<script>alert(1)</script>"),
            ("line1", ""),
            ("city", "Paris"),
            ("postcode", "75001"),
            ("country", "XX"),
        ],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(!answer.body.contains("<script>alert(1)"));
    assert!(
        answer
            .body
            .contains("Please give the first line of the address")
    );
    assert!(
        answer
            .body
            .contains("Please choose a country we deliver to.")
    );
    assert_eq!(shop.count("addresses").await.unwrap(), 1);

    // Without the token: 403, nothing changed.
    let answer = ann
        .post(
            "/account/addresses",
            &[
                ("full_name", "X"),
                ("line1", "Y"),
                ("city", "Z"),
                ("postcode", "1"),
                ("country", "GB"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 403);
    assert_eq!(shop.count("addresses").await.unwrap(), 1);

    // Another customer cannot remove ann's address, nor see it.
    let mut bob = Customer::new(&shop);
    bob.register("bob", "bob@example.test", PASSWORD)
        .await
        .unwrap();
    let bobs = bob.get("/account").await.unwrap();
    assert!(!bobs.body.contains("Hat Street"));
    let pool = shop.db.connect("migrator").await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT address_id FROM shop.addresses")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let csrf = bobs.csrf().to_owned();
    let id_text = id.to_string();
    let answer = bob
        .post(
            "/account/addresses/delete",
            &[("address_id", &id_text), ("csrf", &csrf)],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 303);
    assert_eq!(shop.count("addresses").await.unwrap(), 1);

    // Ann can.
    let csrf = ann.get("/account").await.unwrap().csrf().to_owned();
    let answer = ann
        .post(
            "/account/addresses/delete",
            &[("address_id", &id_text), ("csrf", &csrf)],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 303);
    assert_eq!(shop.count("addresses").await.unwrap(), 0);
    shop.finish().await.unwrap();
}
