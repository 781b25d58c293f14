//! Reading the catalogue from the replica: every stock figure comes from the `stock.stock_available`
//! view (never `stock.items.on_hand` directly), so when checkout subtracts holds there, every page
//! follows. Read-only: the shop role cannot write schema `stock`.

use crate::domain::search::SearchQuery;
use contracts::{Currency, Money};
use sqlx::PgPool;
use std::time::Duration;

/// Entries one list query returns at most. The catalogue is a few thousand hats at most; a list is
/// loaded whole, cached, and paged in memory.
pub const MAX_LIST: i64 = 10_000;

/// A hat in a list.
#[derive(Clone, Debug)]
pub struct Card {
    pub item_key: String,
    pub name: String,
    pub price: Option<Money>,
    pub available: i32,
    pub picture: Option<Picture>,
}

/// One hat's page.
#[derive(Clone, Debug)]
pub struct Product {
    pub item_key: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub price: Option<Money>,
    pub price_includes_vat: bool,
    pub available: i32,
    /// Tombstoned in the legacy system: "no longer available".
    pub deleted: bool,
    /// Exists but cannot be sold now (quarantined, duplicate SKU, price did not convert).
    pub sellable: bool,
    pub picture: Option<Picture>,
}

/// A category that has sellable hats, as the legacy system names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    pub name: String,
    pub hats: i64,
}

/// The thumbnails of a picture whose status is `ready`, by width, ascending: WebP (`variants`) and
/// the JPEG fallback for browsers without WebP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    pub variants: Vec<(u32, String)>,
    pub fallback: Vec<(u32, String)>,
    pub alt_text: Option<String>,
}

impl Picture {
    /// From `stock.images.keys` (`{"160.webp": "items/<sha>/v1/160.webp", "160.jpg": …}`): entries
    /// named by their long side and format; the picture's own `width` × `height` turn a long side
    /// into the width `srcset` needs (a portrait picture is narrower than its long side). `None`
    /// when nothing usable is there (then the placeholder shows).
    pub fn from_keys(
        keys: &serde_json::Value,
        alt_text: Option<String>,
        size: Option<(u32, u32)>,
    ) -> Option<Self> {
        let width_of = |long_side: u32| match size {
            Some((w, h)) if h > w && h > 0 => {
                u32::try_from(u64::from(long_side) * u64::from(w) / u64::from(h))
                    .unwrap_or(long_side)
                    .max(1)
            }
            _ => long_side,
        };
        let of_format = |extension: &str| {
            let mut found: Vec<(u32, String)> = keys
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(name, key)| {
                    let (side, ext) = name.split_once('.')?;
                    (ext == extension).then_some(())?;
                    Some((width_of(side.parse().ok()?), key.as_str()?.to_owned()))
                })
                .filter(|(width, key)| *width > 0 && !key.is_empty())
                .collect();
            found.sort();
            found.dedup_by_key(|(w, _)| *w);
            found
        };
        let variants = of_format("webp");
        let fallback = of_format("jpg");
        (!variants.is_empty() || !fallback.is_empty()).then_some(Self {
            variants,
            fallback,
            alt_text,
        })
    }
}

pub(crate) fn money(minor: Option<i64>, currency: &str) -> Option<Money> {
    Some(Money::new(minor?, Currency::parse(currency).ok()?))
}

/// A list row as the three list queries select it.
struct CardRow {
    item_key: String,
    name: String,
    price_minor: Option<i64>,
    currency: String,
    available: i32,
    keys: Option<serde_json::Value>,
    alt_text: Option<String>,
    width: Option<i32>,
    height: Option<i32>,
}

impl From<CardRow> for Card {
    fn from(r: CardRow) -> Self {
        Self {
            price: money(r.price_minor, &r.currency),
            picture: picture(r.keys, r.alt_text, r.width, r.height),
            item_key: r.item_key,
            name: r.name,
            available: r.available,
        }
    }
}

fn picture(
    keys: Option<serde_json::Value>,
    alt_text: Option<String>,
    width: Option<i32>,
    height: Option<i32>,
) -> Option<Picture> {
    let size = match (width, height) {
        (Some(w), Some(h)) => Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?)),
        _ => None,
    };
    Picture::from_keys(&keys?, alt_text, size)
}

/// Every sellable hat, by name.
pub async fn all_hats(db: &PgPool) -> sqlx::Result<Vec<Card>> {
    let rows = sqlx::query_as!(
        CardRow,
        r#"SELECT a.item_key AS "item_key!", a.name AS "name!", a.price_minor, a.currency AS "currency!",
                  a.available AS "available!", img.keys AS "keys?", img.alt_text AS "alt_text?",
                  img.width AS "width?", img.height AS "height?"
           FROM stock.stock_available a
           LEFT JOIN stock.images img ON img.item_key = a.item_key AND img.status = 'ready'
           WHERE a.sellable
           ORDER BY a.name, a.item_key
           LIMIT $1"#,
        MAX_LIST
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Card::from).collect())
}

/// The sellable hats of one category, by name.
pub async fn hats_in_category(db: &PgPool, category: &str) -> sqlx::Result<Vec<Card>> {
    let rows = sqlx::query_as!(
        CardRow,
        r#"SELECT a.item_key AS "item_key!", a.name AS "name!", a.price_minor, a.currency AS "currency!",
                  a.available AS "available!", img.keys AS "keys?", img.alt_text AS "alt_text?",
                  img.width AS "width?", img.height AS "height?"
           FROM stock.stock_available a
           LEFT JOIN stock.images img ON img.item_key = a.item_key AND img.status = 'ready'
           WHERE a.sellable AND a.category = $1
           ORDER BY a.name, a.item_key
           LIMIT $2"#,
        category,
        MAX_LIST
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Card::from).collect())
}

/// Sellable hats matching every word of the query in name, category, SKU or description; name
/// matches first.
pub async fn search_hats(db: &PgPool, query: &SearchQuery) -> sqlx::Result<Vec<Card>> {
    let patterns = query.patterns();
    let rows = sqlx::query_as!(
        CardRow,
        r#"SELECT a.item_key AS "item_key!", a.name AS "name!", a.price_minor, a.currency AS "currency!",
                  a.available AS "available!", img.keys AS "keys?", img.alt_text AS "alt_text?",
                  img.width AS "width?", img.height AS "height?"
           FROM stock.stock_available a
           LEFT JOIN stock.images img ON img.item_key = a.item_key AND img.status = 'ready'
           WHERE a.sellable
             AND concat_ws(' ', a.name, a.category, a.sku, a.description) ILIKE ALL ($1::text[])
           ORDER BY (a.name ILIKE ALL ($1::text[])) DESC, a.name, a.item_key
           LIMIT $2"#,
        &patterns,
        MAX_LIST
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Card::from).collect())
}

/// Categories with at least one sellable hat, by name.
pub async fn categories(db: &PgPool) -> sqlx::Result<Vec<Category>> {
    let rows = sqlx::query!(
        r#"SELECT category AS "name!", count(*) AS "hats!"
           FROM stock.stock_available
           WHERE sellable AND category IS NOT NULL AND btrim(category) <> ''
           GROUP BY category
           ORDER BY category"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Category {
            name: r.name,
            hats: r.hats,
        })
        .collect())
}

/// One hat by its key, tombstones and unsellable ones included (their pages say so).
pub async fn product(db: &PgPool, item_key: &str) -> sqlx::Result<Option<Product>> {
    let row = sqlx::query!(
        r#"SELECT a.item_key AS "item_key!", a.name AS "name!", a.description, a.category,
                  a.price_minor, a.currency AS "currency!", a.price_includes_vat AS "price_includes_vat!",
                  a.available AS "available!", a.deleted AS "deleted!", a.sellable AS "sellable!",
                  img.keys AS "keys?", img.alt_text AS "alt_text?",
                  img.width AS "width?", img.height AS "height?"
           FROM stock.stock_available a
           LEFT JOIN stock.images img ON img.item_key = a.item_key AND img.status = 'ready'
           WHERE a.item_key = $1"#,
        item_key
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Product {
        price: money(r.price_minor, &r.currency),
        picture: picture(r.keys, r.alt_text, r.width, r.height),
        item_key: r.item_key,
        name: r.name,
        description: r.description,
        category: r.category,
        price_includes_vat: r.price_includes_vat,
        available: r.available,
        deleted: r.deleted,
        sellable: r.sellable,
    }))
}

/// `stock.freshness.staleness`, computed in PostgreSQL's clock; `None` with no checkpoint or while
/// a snapshot runs (the lag guard treats that as past the hard limit).
pub async fn staleness(db: &PgPool) -> sqlx::Result<Option<Duration>> {
    let secs = sqlx::query_scalar!(
        r#"SELECT extract(epoch FROM staleness)::float8 AS secs FROM stock.freshness"#
    )
    .fetch_optional(db)
    .await?
    .flatten();
    // An absurd value (infinite, beyond Duration) is as good as unknown: past the hard limit.
    Ok(secs.and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_use_size_named_keys_by_format() {
        let keys = serde_json::json!({
            "480.webp": "items/17/480.webp",
            "160.webp": "items/17/160.webp",
            "160.jpg": "items/17/160.jpg",
            "original.jpg": "items/17/original.jpg",
            "0.webp": "items/17/0.webp"
        });
        let p = Picture::from_keys(&keys, None, Some((2000, 1500))).unwrap();
        assert_eq!(
            p.variants,
            [
                (160, "items/17/160.webp".to_owned()),
                (480, "items/17/480.webp".to_owned())
            ]
        );
        assert_eq!(p.fallback, [(160, "items/17/160.jpg".to_owned())]);
        assert_eq!(Picture::from_keys(&serde_json::json!({}), None, None), None);
        assert_eq!(
            Picture::from_keys(&serde_json::json!([1]), None, None),
            None
        );
    }

    #[test]
    fn a_portrait_picture_is_narrower_than_its_long_side() {
        let keys = serde_json::json!({"480.webp": "a/480.webp", "160.webp": "a/160.webp"});
        let p = Picture::from_keys(&keys, None, Some((1000, 2000))).unwrap();
        assert_eq!(
            p.variants,
            [
                (80, "a/160.webp".to_owned()),
                (240, "a/480.webp".to_owned())
            ]
        );
    }
}
