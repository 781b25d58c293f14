//! `POST /basket/remove` (`item_key`, `csrf`): takes a line out of the basket.

use super::{Notice, to_basket};
use crate::db::basket;
use crate::error::AppError;
use crate::session::{Visitor, check_csrf};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use sqlx::PgPool;

#[derive(serde::Deserialize)]
pub struct RemoveForm {
    item_key: String,
    #[serde(default)]
    csrf: String,
}

pub async fn remove_from_basket(
    State(db): State<PgPool>,
    visitor: Visitor,
    headers: HeaderMap,
    axum::Form(form): axum::Form<RemoveForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    if let Some(basket_id) = visitor.basket_id() {
        let mut tx = db.begin().await?;
        if basket::lock_basket(&mut tx, basket_id).await? {
            basket::remove_line(&mut tx, basket_id, &form.item_key).await?;
        }
        tx.commit().await?;
    }
    Ok(to_basket(Notice::Removed))
}
