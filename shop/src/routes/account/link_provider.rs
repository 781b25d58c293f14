//! `POST /account/link/{provider}` (`csrf`): "Link Google / Facebook" on the profile page. The same
//! provider login as "Continue with …" ([`super::provider_start::begin`]: state, nonce and PKCE kept
//! server-side in this session), with the logged-in account kept beside it as the login's purpose.
//! Its callback (`provider_callback.rs`) then links the identity to that account and never signs
//! anyone in. Not logged in: to the login page; a provider without settings is a 404.

use super::profile::{back_with, to_login};
use super::provider_start::begin;
use crate::error::AppError;
use crate::oauth::{Provider, Providers};
use crate::routes::PathText;
use crate::session::{Visitor, check_csrf};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(serde::Deserialize)]
pub struct LinkStartForm {
    #[serde(default)]
    csrf: String,
}

pub async fn start_link(
    State(db): State<PgPool>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    headers: HeaderMap,
    PathText(slug): PathText,
    axum::Form(form): axum::Form<LinkStartForm>,
) -> Result<Response, AppError> {
    let provider = Provider::parse(&slug)
        .filter(|p| providers.is_offered(*p))
        .ok_or(AppError::NotFound)?;
    check_csrf(&visitor, &form.csrf, &headers)?;
    let Some((account_id, _)) = visitor.session.as_ref().and_then(|s| s.account.clone()) else {
        return Ok(to_login());
    };
    match begin(
        &db,
        &providers,
        &visitor,
        provider,
        "/account",
        Some(account_id),
    )
    .await?
    {
        // Logged in, so the session exists and no cookie is made.
        Some((response, _)) => Ok(response),
        None => Ok(back_with(&format!("{}-failed", provider.as_str()))),
    }
}
