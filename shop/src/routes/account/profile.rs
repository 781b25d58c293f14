//! `GET /account`: the logged-in customer's profile — username, email, the providers it can log in
//! with (and whether it has a password), and delivery addresses, with the form to add one. Not
//! logged in: 303 to `/login?next=/account`.

use crate::catalog::Catalogue;
use crate::domain::address::{COUNTRIES, MAX_ADDRESSES, country_name};
use crate::error::AppError;
use crate::routes::layout::Layout;
use crate::routes::{QueryParams, page};
use crate::session::Visitor;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::sync::Arc;

pub struct AddressView {
    pub address_id: i64,
    pub lines: Vec<String>,
}

/// What the add form shows again after a broken rule.
#[derive(Default)]
pub struct AddressForm {
    pub full_name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postcode: String,
    pub country: String,
}

#[derive(Template)]
#[template(path = "account/profile.html")]
pub struct ProfilePage {
    pub layout: Layout,
    pub username: String,
    pub email: String,
    /// "Google", "Facebook": the providers linked to the account, oldest link first.
    pub linked: Vec<&'static str>,
    /// False for an account made by a provider login (it logs in only through the provider).
    pub has_password: bool,
    pub addresses: Vec<AddressView>,
    pub form: AddressForm,
    pub errors: Vec<&'static str>,
    pub notice: Option<&'static str>,
    pub countries: &'static [(&'static str, &'static str)],
    pub can_add: bool,
}

impl ProfilePage {
    pub fn is_selected(&self, code: &str) -> bool {
        if self.form.country.is_empty() {
            code == "GB"
        } else {
            self.form.country == code
        }
    }
}

/// Loads the profile of the visitor's account, or `None` when nobody is logged in.
pub async fn load(
    db: &PgPool,
    catalogue: &Catalogue,
    visitor: &Visitor,
) -> Result<Option<ProfilePage>, AppError> {
    let Some((account_id, username)) = visitor.session.as_ref().and_then(|s| s.account.clone())
    else {
        return Ok(None);
    };
    let account = sqlx::query!(
        r#"SELECT email, password_hash IS NOT NULL AS "has_password!",
                  ARRAY(SELECT provider FROM shop.oauth_identities i
                        WHERE i.account_id = a.account_id ORDER BY linked_at) AS "linked!"
           FROM shop.accounts a WHERE account_id = $1"#,
        account_id
    )
    .fetch_one(db)
    .await?;
    let linked = account
        .linked
        .iter()
        .filter_map(|p| crate::oauth::Provider::parse(p))
        .map(crate::oauth::Provider::name)
        .collect();
    let rows = sqlx::query!(
        "SELECT address_id, full_name, line1, line2, city, postcode, country \
         FROM shop.addresses WHERE account_id = $1 ORDER BY address_id",
        account_id
    )
    .fetch_all(db)
    .await?;
    let addresses: Vec<AddressView> = rows
        .into_iter()
        .map(|r| AddressView {
            address_id: r.address_id,
            lines: [
                r.full_name,
                r.line1,
                r.line2,
                r.city,
                r.postcode,
                country_name(&r.country).to_owned(),
            ]
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect(),
        })
        .collect();
    let (mut layout, _) = Layout::load(catalogue).await?;
    layout.set_visitor(db, visitor).await?;
    let can_add = i64::try_from(addresses.len()).unwrap_or(i64::MAX) < MAX_ADDRESSES;
    Ok(Some(ProfilePage {
        layout,
        username,
        email: account.email,
        linked,
        has_password: account.has_password,
        addresses,
        form: AddressForm::default(),
        errors: Vec::new(),
        notice: None,
        countries: COUNTRIES,
        can_add,
    }))
}

pub fn to_login() -> Response {
    Redirect::to("/login?next=%2Faccount").into_response()
}

pub async fn show_profile(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
    params: QueryParams,
) -> Result<Response, AppError> {
    let Some(mut profile) = load(&db, &catalogue, &visitor).await? else {
        return Ok(to_login());
    };
    profile.notice = match params.get("notice") {
        Some("added") => Some("Address added."),
        Some("deleted") => Some("Address removed."),
        _ => None,
    };
    page(StatusCode::OK, &profile)
}
