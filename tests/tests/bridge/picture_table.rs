//! Pictures kept by the legacy database in a table of their own (mapping `[pictures]`), several per
//! item: each item shows its primary picture by the mapping's rule, worked out again whenever a
//! picture row changes, moves to another item or goes, and made into thumbnails from that table's
//! BLOB by the image workers (a scratch source and a scratch s3s-fs).

use crate::support::{BridgeUnderTest, bridge_command, scratch_source, wait_until};
use mysql_async::prelude::Queryable;
use tests::legacy::pictures::{self, Look, PictureFormat, PictureSpec};
use tests::scratch_s3::ScratchS3;

const SHOP3_SCHEMA: &str = "
CREATE DATABASE shop3;
CREATE TABLE shop3.products (
  id INT NOT NULL PRIMARY KEY,
  sku VARCHAR(32) NOT NULL,
  title VARCHAR(200) NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  qty INT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE shop3.product_pictures (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  product_id INT NULL,
  is_primary TINYINT NOT NULL DEFAULT 0,
  position INT NULL,
  data MEDIUMBLOB NULL
) ENGINE=InnoDB;
INSERT INTO shop3.products VALUES (1, 'P-1', 'Panama', 30.00, 4), (2, 'P-2', 'Beret', 12.00, 2),
  (3, 'P-3', 'Fez', 18.00, 1);
";

const SHOP3_MAPPING: &str = r#"
[source]
schema = "shop3"

[items]
table = "products"
key = "id"
sku = "sku"
name = "title"
price = "price"
currency = "GBP"
rounding = "half_even"
quantity = "qty"

[pictures]
table = "product_pictures"
key = "id"
item = "product_id"
image = "data"
primary_order = ["-is_primary", "position"]
"#;

fn photo(look: Look, seed: u64) -> Vec<u8> {
    pictures::render(&PictureSpec {
        look,
        format: PictureFormat::Jpeg,
        width: 640,
        height: 480,
        seed,
    })
    .unwrap()
    .bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// (status, hex SHA-256 of the picture shown) of an item, `None` without a row.
async fn shown(bridge: &BridgeUnderTest, item: u32) -> Option<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT status::text, encode(source_sha256, 'hex') FROM stock.images WHERE item_key = $1",
    )
    .bind(item.to_string())
    .fetch_optional(&bridge.shop)
    .await
    .unwrap()
}

async fn wait_shown(bridge: &BridgeUnderTest, item: u32, status: &str, sha: Option<&str>) {
    let want = Some((status.to_owned(), sha.map(str::to_owned)));
    wait_until(&format!("item {item} shows {sha:?} ({status})"), || async {
        shown(bridge, item).await == want
    })
    .await;
}

#[tokio::test]
async fn each_item_shows_its_primary_picture_from_a_table_of_their_own() {
    let (server, source) = scratch_source().await;
    let s3 = ScratchS3::start().await.unwrap();
    let mut root = server.root().await.unwrap();
    root.query_drop(SHOP3_SCHEMA).await.unwrap();
    root.query_drop("GRANT SELECT ON shop3.* TO 'bridge'@'127.0.0.1'")
        .await
        .unwrap();
    let (flagged, first, beret, spare) = (
        photo(Look::Bowler, 1),
        photo(Look::Bowler, 2),
        photo(Look::Bowler, 3),
        photo(Look::Bowler, 4),
    );
    // Item 1: the flagged picture wins over the one with the lower position. Item 2: a row without
    // a picture (NULL) is never primary, whatever its rank. Item 3: no picture at all.
    root.exec_drop(
        "INSERT INTO shop3.product_pictures (id, product_id, is_primary, position, data) VALUES
           (10, 1, 1, 2, ?), (11, 1, 0, 1, ?), (20, 2, 1, 0, NULL), (21, 2, 0, 5, ?)",
        (&flagged, &first, &beret),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("shop3.toml");
    std::fs::write(&mapping, SHOP3_MAPPING).unwrap();
    let mut env = s3.bridge_env();
    env.push((
        "FUNNYHAT_SOURCE__MAPPING".to_owned(),
        mapping.display().to_string(),
    ));
    let bridge = BridgeUnderTest::start_with(source.clone(), env).await;

    // The snapshot: the primary pictures are made into thumbnails from the pictures table.
    wait_shown(&bridge, 1, "ready", Some(&sha256_hex(&flagged))).await;
    wait_shown(&bridge, 2, "ready", Some(&sha256_hex(&beret))).await;
    assert_eq!(shown(&bridge, 3).await, None, "item 3 has no picture row");
    let made = |sha: &str| {
        s3.keys()
            .iter()
            .any(|k| k.contains(sha) && k.ends_with("480.webp"))
    };
    assert!(made(&sha256_hex(&flagged)), "{:?}", s3.keys());
    assert!(made(&sha256_hex(&beret)), "{:?}", s3.keys());
    assert!(
        !made(&sha256_hex(&first)),
        "a picture that is not primary is not made: {:?}",
        s3.keys()
    );
    let mirrored: i64 = sqlx::query_scalar("SELECT count(*) FROM stock.pictures")
        .fetch_one(&bridge.shop)
        .await
        .unwrap();
    assert_eq!(
        mirrored, 4,
        "every picture row is mirrored (by hash, never the bytes)"
    );

    // No flag any more: the lowest position wins.
    root.query_drop("UPDATE shop3.product_pictures SET is_primary = 0 WHERE product_id = 1")
        .await
        .unwrap();
    wait_shown(&bridge, 1, "ready", Some(&sha256_hex(&first))).await;
    assert!(made(&sha256_hex(&first)), "{:?}", s3.keys());

    // A picture moved to another item: item 3 shows it (already made: no second job for it is
    // needed to be ready), item 2 is left with a row that holds no picture.
    root.query_drop("UPDATE shop3.product_pictures SET product_id = 3 WHERE id = 21")
        .await
        .unwrap();
    wait_shown(&bridge, 3, "ready", Some(&sha256_hex(&beret))).await;
    wait_shown(&bridge, 2, "none", None).await;

    // The primary row deleted: the flagged one's old picture is next by position. A new picture
    // added to item 2 in the same transaction as its NULL row gets one.
    root.query_drop("START TRANSACTION").await.unwrap();
    root.query_drop("DELETE FROM shop3.product_pictures WHERE id = 11")
        .await
        .unwrap();
    root.exec_drop(
        "UPDATE shop3.product_pictures SET data = ? WHERE id = 20",
        (&spare,),
    )
    .await
    .unwrap();
    root.query_drop("COMMIT").await.unwrap();
    wait_shown(&bridge, 1, "ready", Some(&sha256_hex(&flagged))).await;
    wait_shown(&bridge, 2, "ready", Some(&sha256_hex(&spare))).await;

    // A picture replaced in place while it is primary: the worker reads the new bytes by hash.
    root.exec_drop(
        "UPDATE shop3.product_pictures SET data = ? WHERE id = 10",
        (&first,),
    )
    .await
    .unwrap();
    wait_shown(&bridge, 1, "ready", Some(&sha256_hex(&first))).await;

    let (code, out) = bridge_command(&bridge, &source, "verify").await;
    assert_eq!(code, 0, "verify: {out}");
    bridge.stop().await;
}
