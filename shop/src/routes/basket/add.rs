//! `POST /basket/add` (`item_key`, `quantity`, `csrf`): puts hats in the basket, creating the
//! visitor's session and basket if this is their first. Refused — with the basket unchanged — past
//! the lag guard's hard limit, for a hat that cannot be sold, beyond the replica's availability, and
//! beyond the per-line and line-count caps.

use super::{Notice, parse_quantity, to_basket};
use crate::catalog::Catalogue;
use crate::db::basket;
use crate::db::catalog as stock;
use crate::domain::stock::Lag;
use crate::error::AppError;
use crate::session::{self, Visitor, check_csrf};
use crate::state::Site;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(serde::Deserialize)]
pub struct AddForm {
    item_key: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    csrf: String,
}

pub async fn add_to_basket(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    visitor: Visitor,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AddForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let quantity = if form.quantity.trim().is_empty() {
        1
    } else {
        parse_quantity(&form.quantity).ok_or(AppError::BadForm)?
    };
    if quantity == 0 {
        return Ok(to_basket(Notice::Updated));
    }
    if catalogue.lag().await? == Lag::Hard {
        return Ok(to_basket(Notice::Refreshing));
    }
    // Read uncached: this decision must see the replica as it is now.
    let Some(product) = stock::product(&db, &form.item_key).await? else {
        return Ok(to_basket(Notice::Unavailable));
    };
    let Some(price) = product.price.filter(|_| product.sellable) else {
        return Ok(to_basket(Notice::Unavailable));
    };
    let limits = &site.basket;
    let mut tx = db.begin().await?;
    let mut new_session = None;
    let basket_id = match (&visitor.session, visitor.basket_id()) {
        (Some(_), Some(id)) if basket::lock_basket(&mut tx, id).await? => id,
        (Some(s), _) => {
            let id = basket::create(&mut tx).await?;
            basket::attach_to_session(&mut tx, &s.id_hash, id).await?;
            id
        }
        (None, _) => {
            let id = basket::create(&mut tx).await?;
            new_session = Some(session::create(&mut tx, Some(id), None).await?);
            id
        }
    };
    let (existing, lines) = basket::line_and_count(&mut tx, basket_id, &form.item_key).await?;
    let wanted = existing.saturating_add(quantity);
    let refusal = if wanted > limits.max_line_quantity {
        Some(Notice::LineCap)
    } else if existing == 0 && lines >= limits.max_lines {
        Some(Notice::LinesCap)
    } else if wanted > product.available {
        Some(Notice::NotEnough)
    } else {
        None
    };
    if let Some(notice) = refusal {
        // Nothing is kept, not even a session made for this request.
        tx.rollback().await?;
        return Ok(to_basket(notice));
    }
    basket::set_line(
        &mut tx,
        basket_id,
        &form.item_key,
        wanted,
        Some((price.minor, price.currency.code())),
    )
    .await?;
    tx.commit().await?;
    let mut response = to_basket(Notice::Added);
    if let Some(new) = new_session {
        response.headers_mut().insert(
            header::SET_COOKIE,
            session::set_cookie(&site, &new.cookie_value),
        );
    }
    Ok(response)
}
