//! The basket's SQL: lines of a basket with the replica's current stock and price (through
//! `stock.stock_available`), and the writes the basket actions make. Writes take a connection that
//! is inside the caller's transaction; the caller locks the basket row first
//! ([`lock_basket`]), so two tabs changing one basket run one after the other.

use sqlx::{PgConnection, PgPool};

/// A basket line with what the replica says about its hat now (`None` fields: the hat is gone
/// from the replica altogether).
#[derive(Debug, Clone)]
pub struct LineRow {
    pub item_key: String,
    pub quantity: i32,
    pub price_minor_added: Option<i64>,
    pub currency_added: Option<String>,
    pub name: Option<String>,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub available: Option<i32>,
    pub deleted: Option<bool>,
    pub sellable: Option<bool>,
}

/// The lines of a basket, oldest first.
pub async fn lines(db: &PgPool, basket_id: i64) -> sqlx::Result<Vec<LineRow>> {
    sqlx::query_as!(
        LineRow,
        r#"SELECT l.item_key, l.quantity, l.price_minor_added, l.currency_added,
                  a.name AS "name?", a.price_minor AS "price_minor?", a.currency AS "currency?",
                  a.available AS "available?", a.deleted AS "deleted?", a.sellable AS "sellable?"
           FROM shop.basket_lines l
           LEFT JOIN stock.stock_available a ON a.item_key = l.item_key
           WHERE l.basket_id = $1
           ORDER BY l.added_at, l.item_key"#,
        basket_id
    )
    .fetch_all(db)
    .await
}

/// Units in a basket, for the header's count.
pub async fn count(db: &PgPool, basket_id: i64) -> sqlx::Result<i64> {
    let n = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(quantity), 0)::int8 AS "n!" FROM shop.basket_lines WHERE basket_id = $1"#,
        basket_id
    )
    .fetch_one(db)
    .await?;
    Ok(n)
}

/// A new, empty, anonymous basket.
pub async fn create(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar!("INSERT INTO shop.baskets DEFAULT VALUES RETURNING basket_id")
        .fetch_one(conn)
        .await
}

/// Locks the basket row for the rest of the transaction and marks it changed; false when the
/// basket no longer exists (expired).
pub async fn lock_basket(conn: &mut PgConnection, basket_id: i64) -> sqlx::Result<bool> {
    let row = sqlx::query_scalar!(
        "UPDATE shop.baskets SET updated_at = now() WHERE basket_id = $1 RETURNING basket_id",
        basket_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// (quantity of this hat's line, number of lines) in a locked basket.
pub async fn line_and_count(
    conn: &mut PgConnection,
    basket_id: i64,
    item_key: &str,
) -> sqlx::Result<(i32, i64)> {
    let row = sqlx::query!(
        r#"SELECT coalesce(max(quantity) FILTER (WHERE item_key = $2), 0) AS "quantity!",
                  count(*) AS "lines!"
           FROM shop.basket_lines WHERE basket_id = $1"#,
        basket_id,
        item_key
    )
    .fetch_one(conn)
    .await?;
    Ok((row.quantity, row.lines))
}

/// Sets a line's quantity (inserting it if new) and records the price the customer saw.
pub async fn set_line(
    conn: &mut PgConnection,
    basket_id: i64,
    item_key: &str,
    quantity: i32,
    price: Option<(i64, &str)>,
) -> sqlx::Result<()> {
    let (price_minor, currency) = price.unzip();
    sqlx::query!(
        "INSERT INTO shop.basket_lines (basket_id, item_key, quantity, price_minor_added, currency_added) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (basket_id, item_key) DO UPDATE \
         SET quantity = EXCLUDED.quantity, price_minor_added = EXCLUDED.price_minor_added, \
             currency_added = EXCLUDED.currency_added",
        basket_id,
        item_key,
        quantity,
        price_minor,
        currency
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remove_line(
    conn: &mut PgConnection,
    basket_id: i64,
    item_key: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM shop.basket_lines WHERE basket_id = $1 AND item_key = $2",
        basket_id,
        item_key
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives a session its (new) basket.
pub async fn attach_to_session(
    conn: &mut PgConnection,
    id_hash: &[u8],
    basket_id: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE shop.sessions SET basket_id = $2 WHERE id_hash = $1",
        id_hash,
        basket_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The cleanup job's statement: anonymous baskets and sessions untouched for `days` days go (a
/// session's basket reference becomes NULL first, by the foreign key). Returns (baskets, sessions).
pub async fn delete_expired(db: &PgPool, days: i32) -> sqlx::Result<(u64, u64)> {
    let mut tx = db.begin().await?;
    let baskets = sqlx::query!(
        "DELETE FROM shop.baskets \
         WHERE account_id IS NULL AND updated_at < now() - make_interval(days => $1)",
        days
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let sessions = sqlx::query!(
        "DELETE FROM shop.sessions WHERE last_seen_at < now() - make_interval(days => $1)",
        days
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok((baskets, sessions))
}
