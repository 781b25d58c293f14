//! `POST /account/addresses/delete` (`address_id`, `csrf`): removes one of the logged-in customer's
//! own addresses; an id that is not theirs changes nothing.

use super::profile::to_login;
use crate::error::AppError;
use crate::session::{Visitor, check_csrf};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;

#[derive(serde::Deserialize)]
pub struct DeleteAddress {
    #[serde(default)]
    address_id: String,
    #[serde(default)]
    csrf: String,
}

pub async fn delete_address(
    State(db): State<PgPool>,
    visitor: Visitor,
    headers: HeaderMap,
    axum::Form(form): axum::Form<DeleteAddress>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let Some(account_id) = visitor.account_id() else {
        return Ok(to_login());
    };
    let address_id: i64 = form
        .address_id
        .trim()
        .parse()
        .map_err(|_| AppError::BadForm)?;
    sqlx::query!(
        "DELETE FROM shop.addresses WHERE address_id = $1 AND account_id = $2",
        address_id,
        account_id
    )
    .execute(&db)
    .await?;
    Ok(Redirect::to("/account?notice=deleted").into_response())
}
