//! `POST /account/addresses` (`full_name`, `line1`, `line2`, `city`, `postcode`, `country`,
//! `csrf`): adds a delivery address to the logged-in customer's profile (at most
//! `MAX_ADDRESSES`). A broken rule shows the profile again with what was typed and why.

use super::profile::{AddressForm, load, to_login};
use crate::catalog::Catalogue;
use crate::domain::address::MAX_ADDRESSES;
use crate::error::AppError;
use crate::oauth::Providers;
use crate::routes::page;
use crate::session::{Visitor, check_csrf};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::sync::Arc;

#[derive(serde::Deserialize)]
pub struct NewAddress {
    #[serde(flatten)]
    address: AddressForm,
    #[serde(default)]
    csrf: String,
}

pub async fn add_address(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    headers: HeaderMap,
    axum::Form(form): axum::Form<NewAddress>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let Some(account_id) = visitor.account_id() else {
        return Ok(to_login());
    };
    let parsed = form.address.parse();
    let errors = match parsed {
        Ok(a) => {
            // Count and insert in one statement, so two tabs cannot pass the cap together.
            let inserted = sqlx::query_scalar!(
                "INSERT INTO shop.addresses (account_id, full_name, line1, line2, city, postcode, country) \
                 SELECT $1, $2, $3, $4, $5, $6, $7 \
                 FROM shop.accounts WHERE account_id = $1 \
                   AND (SELECT count(*) FROM shop.addresses WHERE account_id = $1) < $8 \
                 RETURNING address_id",
                account_id,
                a.full_name,
                a.line1,
                a.line2,
                a.city,
                a.postcode,
                a.country,
                MAX_ADDRESSES
            )
            .fetch_optional(&db)
            .await?;
            if inserted.is_some() {
                return Ok(Redirect::to("/account?notice=added").into_response());
            }
            vec!["You already have the most addresses we keep (10). Remove one first."]
        }
        Err(errors) => errors,
    };
    let Some(mut profile) = load(&db, &catalogue, &providers, &visitor).await? else {
        return Ok(to_login());
    };
    profile.errors = errors;
    profile.form = form.address;
    page(StatusCode::OK, &profile)
}
