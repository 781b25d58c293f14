//! `GET /account/addresses/{id}/edit`: one of the logged-in customer's addresses in a form;
//! `POST /account/addresses/{id}` (the address fields and `csrf`): saves it in place, under the
//! same rules as a new one, and goes back to the profile. A broken rule shows the form again with
//! what was typed and why; an address that is not the customer's is "page not found" either way,
//! and nothing changes.

use super::profile::{AddressForm, back_with, to_login};
use crate::catalog::Catalogue;
use crate::domain::address::COUNTRIES;
use crate::error::AppError;
use crate::routes::layout::Layout;
use crate::routes::page;
use crate::session::{Visitor, check_csrf};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "account/edit_address.html")]
pub struct EditAddressPage {
    pub layout: Layout,
    pub address_id: i64,
    pub form: AddressForm,
    pub errors: Vec<&'static str>,
    pub countries: &'static [(&'static str, &'static str)],
}

#[derive(serde::Deserialize)]
pub struct EditedAddress {
    #[serde(flatten)]
    address: AddressForm,
    #[serde(default)]
    csrf: String,
}

async fn edit_page(
    catalogue: &Catalogue,
    visitor: &Visitor,
    address_id: i64,
    form: AddressForm,
    errors: Vec<&'static str>,
) -> Result<Response, AppError> {
    let (layout, _) = Layout::for_visitor(catalogue, visitor).await?;
    page(
        StatusCode::OK,
        &EditAddressPage {
            layout,
            address_id,
            form,
            errors,
            countries: COUNTRIES,
        },
    )
}

pub async fn show_edit_address(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
    Path(address_id): Path<i64>,
) -> Result<Response, AppError> {
    let Some(account_id) = visitor.account_id() else {
        return Ok(to_login());
    };
    let row = sqlx::query!(
        "SELECT full_name, line1, line2, city, postcode, country \
         FROM shop.addresses WHERE address_id = $1 AND account_id = $2",
        address_id,
        account_id
    )
    .fetch_optional(&db)
    .await?
    .ok_or(AppError::NotFound)?;
    let form = AddressForm {
        full_name: row.full_name,
        line1: row.line1,
        line2: row.line2,
        city: row.city,
        postcode: row.postcode,
        country: row.country,
    };
    edit_page(&catalogue, &visitor, address_id, form, Vec::new()).await
}

pub async fn update_address(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(address_id): Path<i64>,
    axum::Form(form): axum::Form<EditedAddress>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let Some(account_id) = visitor.account_id() else {
        return Ok(to_login());
    };
    let address = match form.address.parse() {
        Ok(address) => address,
        Err(errors) => {
            let owned = sqlx::query_scalar!(
                "SELECT address_id FROM shop.addresses WHERE address_id = $1 AND account_id = $2",
                address_id,
                account_id
            )
            .fetch_optional(&db)
            .await?;
            if owned.is_none() {
                return Err(AppError::NotFound);
            }
            return edit_page(&catalogue, &visitor, address_id, form.address, errors).await;
        }
    };
    let updated = sqlx::query!(
        "UPDATE shop.addresses SET full_name = $3, line1 = $4, line2 = $5, city = $6, \
         postcode = $7, country = $8 \
         WHERE address_id = $1 AND account_id = $2",
        address_id,
        account_id,
        address.full_name,
        address.line1,
        address.line2,
        address.city,
        address.postcode,
        address.country
    )
    .execute(&db)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(AppError::NotFound);
    }
    Ok(back_with("updated"))
}
