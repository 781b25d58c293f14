//! The profile page with delivery addresses: only for a logged-in customer, each form with the
//! CSRF token, what was typed shown back escaped with the broken rules, one's own addresses only.

use crate::support::{Customer, ShopUnderTest};

const PASSWORD: &str = "a-very-funny-hat-42";

/// An address form without the CSRF token: refused before it is read.
const ANY_ADDRESS: [(&str, &str); 5] = [
    ("full_name", "X"),
    ("line1", "Y"),
    ("city", "Z"),
    ("postcode", "1"),
    ("country", "GB"),
];

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
    let answer = ann.post("/account/addresses", &ANY_ADDRESS).await.unwrap();
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

#[tokio::test]
async fn a_customer_edits_an_address_in_place_and_nobody_else_can() {
    let shop = ShopUnderTest::start(&[], &[]).await.unwrap();
    let mut ann = Customer::new(&shop);
    ann.register("ann", "ann@example.test", PASSWORD)
        .await
        .unwrap();
    let fields = [
        ("full_name", "Ann Example"),
        ("line1", "1 Hat Street"),
        ("line2", ""),
        ("city", "Leeds"),
        ("postcode", "LS1 4AP"),
        ("country", "GB"),
    ];
    assert_eq!(add(&mut ann, &fields).await.status, 303);
    let pool = shop.db.connect("migrator").await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT address_id FROM shop.addresses")
        .fetch_one(&pool)
        .await
        .unwrap();
    let stored = || async {
        sqlx::query_as::<_, (String, String, String, String)>(
            "SELECT full_name, line1, postcode, country FROM shop.addresses WHERE address_id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap()
    };

    // The profile links to the edit form, which holds the address as stored.
    let profile = ann.get("/account").await.unwrap();
    let edit_path = format!("/account/addresses/{id}/edit");
    assert!(profile.body.contains(&format!("href=\"{edit_path}\"")));
    let form = ann.get(&edit_path).await.unwrap();
    assert_eq!(form.status, 200);
    assert_eq!(form.header("cache-control"), "private, no-store");
    assert!(
        form.body.contains("value=\"1 Hat Street\""),
        "{}",
        form.body
    );
    assert!(form.body.contains("<option value=\"GB\" selected>"));

    // Saved in place, under the add form's rules (trimmed, postcode upper-cased).
    let path = format!("/account/addresses/{id}");
    let csrf = form.csrf().to_owned();
    let answer = ann
        .post(
            &path,
            &[
                ("full_name", " Ann Example "),
                ("line1", "2 Bowler Road"),
                ("line2", "Flat 3"),
                ("city", "York"),
                ("postcode", "yo1 7hh"),
                ("country", "GB"),
                ("csrf", &csrf),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), "/account?notice=updated");
    let profile = ann.get("/account?notice=updated").await.unwrap();
    assert!(profile.body.contains("Address updated."));
    assert!(
        profile.body.contains(
            "Ann Example<br>2 Bowler Road<br>Flat 3<br>York<br>YO1 7HH<br>United Kingdom"
        ),
        "{}",
        profile.body
    );
    assert_eq!(
        shop.count("addresses").await.unwrap(),
        1,
        "edited, not added"
    );

    // A broken rule: the form again with what was typed (escaped) and why; nothing stored.
    let answer = ann
        .post(
            &path,
            &[
                ("full_name", "<b>Ann</b>"),
                ("line1", ""),
                ("city", "York"),
                ("postcode", "YO1 7HH"),
                ("country", "XX"),
                ("csrf", &csrf),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .body
            .contains("Please give the first line of the address")
    );
    assert!(
        answer.body.contains("value=\"&#60;b&#62;Ann&#60;/b&#62;\""),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("<b>Ann</b>"));
    let kept = stored().await;
    assert_eq!(kept.1, "2 Bowler Road");

    // Without the token: 403, nothing changed.
    let answer = ann.post(&path, &ANY_ADDRESS).await.unwrap();
    assert_eq!(answer.status, 403);
    assert_eq!(stored().await, kept);

    // Bob can neither see nor change ann's address: page not found, nothing changed.
    let mut bob = Customer::new(&shop);
    bob.register("bob", "bob@example.test", PASSWORD)
        .await
        .unwrap();
    assert_eq!(bob.get(&edit_path).await.unwrap().status, 404);
    let csrf = bob.get("/account").await.unwrap().csrf().to_owned();
    let mut taking: Vec<(&str, &str)> = fields.to_vec();
    taking[0] = ("full_name", "Bob Taker");
    taking.push(("csrf", &csrf));
    assert_eq!(bob.post(&path, &taking).await.unwrap().status, 404);
    taking[1] = ("line1", "");
    assert_eq!(bob.post(&path, &taking).await.unwrap().status, 404);
    assert_eq!(stored().await, kept);

    // Logged out: to the login page.
    let mut anon = Customer::new(&shop);
    let answer = anon.get(&edit_path).await.unwrap();
    assert_eq!(answer.status, 303);
    pool.close().await;
    shop.finish().await.unwrap();
}
