//! `POST /basket/update` (`item_key`, `quantity`, `csrf`): sets a line's quantity; 0 removes it.
//! Lowering is always allowed; raising is checked against availability and the per-line cap. The
//! line's recorded price becomes the current one (the customer has seen it on the basket page).

use super::{Notice, parse_quantity, to_basket};
use crate::db::basket;
use crate::db::catalog as stock;
use crate::error::AppError;
use crate::session::{Visitor, check_csrf};
use crate::state::Site;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(serde::Deserialize)]
pub struct UpdateForm {
    item_key: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    csrf: String,
}

pub async fn update_basket(
    State(db): State<PgPool>,
    State(site): State<Arc<Site>>,
    visitor: Visitor,
    headers: HeaderMap,
    axum::Form(form): axum::Form<UpdateForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let quantity = parse_quantity(&form.quantity).ok_or(AppError::BadForm)?;
    let Some(basket_id) = visitor.basket_id() else {
        return Ok(to_basket(Notice::Updated));
    };
    let mut tx = db.begin().await?;
    if !basket::lock_basket(&mut tx, basket_id).await? {
        return Ok(to_basket(Notice::Updated));
    }
    let (existing, _) = basket::line_and_count(&mut tx, basket_id, &form.item_key).await?;
    if existing == 0 {
        return Ok(to_basket(Notice::Updated));
    }
    if quantity == 0 {
        basket::remove_line(&mut tx, basket_id, &form.item_key).await?;
        tx.commit().await?;
        return Ok(to_basket(Notice::Removed));
    }
    if quantity > site.basket.max_line_quantity {
        return Ok(to_basket(Notice::LineCap));
    }
    let product = stock::product(&db, &form.item_key).await?;
    let available = product
        .as_ref()
        .filter(|p| p.sellable)
        .map_or(0, |p| p.available);
    if quantity > existing && quantity > available {
        return Ok(to_basket(Notice::NotEnough));
    }
    let price = product
        .as_ref()
        .and_then(|p| p.price)
        .map(|m| (m.minor, m.currency.code()));
    basket::set_line(&mut tx, basket_id, &form.item_key, quantity, price).await?;
    tx.commit().await?;
    Ok(to_basket(Notice::Updated))
}
