//! Signing in (after login or registration): the old session is destroyed and a new one made (the
//! id rotates, so a session id planted before login is worthless after it), and the anonymous
//! basket is merged into the account's basket — all in ONE transaction that consumes the
//! anonymous basket. A second submit or another tab with the old cookie finds the old session
//! gone and merges nothing, so quantities are never added twice.
//!
//! Merge rule per hat: the account's quantity plus the anonymous one, capped by availability and
//! by `basket.max_line_quantity`, but never below what the account's basket already held (that
//! line is flagged on the basket page instead). Hats that cannot be sold keep their quantity and
//! are flagged there. Each change is described for the customer.

use crate::session::{self, NewSession, Session};
use crate::state::BasketLimits;
use sqlx::PgConnection;

/// One line of "what changed" after a merge, for the customer.
#[derive(Debug, Clone)]
pub struct MergeNote {
    pub name: String,
    pub text: String,
}

pub struct SignedIn {
    pub session: NewSession,
    pub notes: Vec<MergeNote>,
}

/// Signs `account` in inside `tx` (the caller commits, then sets the cookie).
pub async fn sign_in(
    tx: &mut PgConnection,
    old: Option<&Session>,
    account: (i64, String),
    limits: BasketLimits,
) -> sqlx::Result<SignedIn> {
    let anonymous = match old {
        Some(s) => session::destroy(tx, &s.id_hash).await?.flatten(),
        None => None,
    };
    let account_basket = sqlx::query_scalar!(
        "INSERT INTO shop.baskets (account_id) VALUES ($1) \
         ON CONFLICT (account_id) DO UPDATE SET updated_at = now() RETURNING basket_id",
        account.0
    )
    .fetch_one(&mut *tx)
    .await?;
    let notes = match anonymous {
        Some(anon) if anon != account_basket => merge(tx, anon, account_basket, limits).await?,
        _ => Vec::new(),
    };
    let session = session::create(tx, Some(account_basket), Some(account)).await?;
    Ok(SignedIn { session, notes })
}

async fn merge(
    tx: &mut PgConnection,
    anon: i64,
    mine: i64,
    limits: BasketLimits,
) -> sqlx::Result<Vec<MergeNote>> {
    // Only an anonymous basket is merged (an old session of another account keeps its basket).
    let lines = sqlx::query!(
        r#"SELECT l.item_key, l.quantity, l.price_minor_added, l.currency_added,
                  m.quantity AS "mine?", a.name AS "name?", a.available AS "available?",
                  a.sellable AS "sellable?"
           FROM shop.basket_lines l
           JOIN shop.baskets b ON b.basket_id = l.basket_id AND b.account_id IS NULL
           LEFT JOIN shop.basket_lines m ON m.basket_id = $2 AND m.item_key = l.item_key
           LEFT JOIN stock.stock_available a ON a.item_key = l.item_key
           WHERE l.basket_id = $1
           ORDER BY l.added_at, l.item_key"#,
        anon,
        mine
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM shop.basket_lines WHERE basket_id = $1"#,
        mine
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut notes = Vec::new();
    for line in lines {
        let name = line
            .name
            .unwrap_or_else(|| "A hat we no longer sell".to_owned());
        let had = line.mine.unwrap_or(0);
        let sum = had.saturating_add(line.quantity);
        let sellable = line.sellable == Some(true);
        let available = line.available.unwrap_or(0);
        let target = if sellable {
            sum.min(available).min(limits.max_line_quantity).max(had)
        } else {
            sum.min(limits.max_line_quantity).max(had)
        };
        if target == 0 {
            notes.push(MergeNote {
                name,
                text: "not added: out of stock".to_owned(),
            });
            continue;
        }
        if had == 0 && count >= limits.max_lines {
            notes.push(MergeNote {
                name,
                text: format!(
                    "not added: a basket holds at most {} different hats",
                    limits.max_lines
                ),
            });
            continue;
        }
        let why = if target == sum {
            String::new()
        } else if sellable && available < sum.min(limits.max_line_quantity) {
            format!(" (only {available} available)")
        } else {
            format!(" (at most {} of one hat)", limits.max_line_quantity)
        };
        let text = if had == 0 {
            format!("{target} added from this visit{why}")
        } else {
            format!(
                "{had} already in your basket + {} from this visit = {target}{why}",
                line.quantity
            )
        };
        if target > had || had == 0 {
            sqlx::query!(
                "INSERT INTO shop.basket_lines (basket_id, item_key, quantity, price_minor_added, currency_added) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (basket_id, item_key) DO UPDATE SET quantity = EXCLUDED.quantity",
                mine,
                line.item_key,
                target,
                line.price_minor_added,
                line.currency_added
            )
            .execute(&mut *tx)
            .await?;
        }
        if had == 0 {
            count += 1;
        }
        notes.push(MergeNote { name, text });
    }
    sqlx::query!(
        "DELETE FROM shop.baskets WHERE basket_id = $1 AND account_id IS NULL",
        anon
    )
    .execute(&mut *tx)
    .await?;
    Ok(notes)
}
