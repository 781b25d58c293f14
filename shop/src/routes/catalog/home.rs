//! `GET /`: the home page, with the hats the replica currently holds and how fresh it is.

use crate::error::AppError;
use askama::Template;
use axum::extract::State;
use axum::response::Html;
use contracts::{Currency, Money};
use sqlx::PgPool;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    hats: Vec<HatCard>,
    replica: ReplicaState,
}

struct HatCard {
    name: String,
    price: String,
    in_stock: bool,
}

/// What the home page tells customers about the stock replica.
enum ReplicaState {
    /// No snapshot has completed yet: nothing can be sold.
    Waiting,
    Fresh,
}

pub async fn show_home(State(db): State<PgPool>) -> Result<Html<String>, AppError> {
    let replica = sqlx::query_scalar!("SELECT snapshot_done AS \"done!\" FROM stock.freshness")
        .fetch_optional(&db)
        .await?;
    let replica = if replica == Some(true) {
        ReplicaState::Fresh
    } else {
        ReplicaState::Waiting
    };
    let rows = sqlx::query!(
        r#"SELECT name, price_minor AS "price_minor!", currency, on_hand
           FROM stock.items WHERE sellable ORDER BY name LIMIT 24"#
    )
    .fetch_all(&db)
    .await?;
    let hats = rows
        .into_iter()
        .map(|r| {
            let price = Currency::parse(&r.currency)
                .map(|c| Money::new(r.price_minor, c).to_string())
                .unwrap_or_default();
            HatCard {
                name: r.name,
                price,
                in_stock: r.on_hand > 0,
            }
        })
        .collect();
    Ok(Html(HomePage { hats, replica }.render()?))
}
