//! `POST /account/password` (`csrf`, `current`, `password`, `confirm`): sets a password for an
//! account that has none (made by a provider login), or changes it. The new password follows the
//! registration rules (`check_password`) and is typed twice; changing one needs the current
//! password, checked exactly as the login form checks it (`login::PasswordCheck`: same rate limits,
//! dummy hash, same time). The hash is argon2id through `Passwords` (its semaphore, off the
//! executor).
//!
//! On success every session of the account is deleted — so every other browser logged in to it is
//! logged out — and this one is replaced by a new session (the id rotates) with the same basket.
//! The update only happens when the stored hash is still the one read before the check, so a
//! change made meanwhile in another tab is never overwritten unseen.

use super::login::PasswordCheck;
use super::profile::{back_with, load, to_login};
use crate::catalog::Catalogue;
use crate::client_addr::ClientAddr;
use crate::domain::account::check_password;
use crate::error::AppError;
use crate::oauth::Providers;
use crate::password::Passwords;
use crate::routes::page;
use crate::session::{self, Visitor, check_csrf};
use crate::state::{LoginLimits, Site};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use sqlx::PgPool;
use std::sync::Arc;

pub const WRONG_CURRENT: &str = "Your current password is not right, so nothing changed.";
pub const DIFFERENT: &str = "The two new passwords are not the same.";
const CHANGED_MEANWHILE: &str =
    "Your password was changed meanwhile, somewhere else. Please reload this page and try again.";

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn set_password(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    State(passwords): State<Arc<Passwords>>,
    State(limits): State<Arc<LoginLimits>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<PasswordForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let Some(session) = visitor.session.as_ref() else {
        return Ok(to_login());
    };
    let Some((account_id, username)) = session.account.clone() else {
        return Ok(to_login());
    };
    let old_hash = sqlx::query_scalar!(
        "SELECT password_hash FROM shop.accounts WHERE account_id = $1",
        account_id
    )
    .fetch_one(&db)
    .await?;
    // The rules first, so a typo in the new password costs no attempt against the rate limits.
    let mut errors: Vec<&'static str> = Vec::new();
    if let Err(rule) = check_password(&form.password) {
        errors.push(rule);
    }
    if form.password != form.confirm {
        errors.push(DIFFERENT);
    }
    if errors.is_empty() && old_hash.is_some() {
        let proven = PasswordCheck {
            db: &db,
            passwords: &passwords,
            limits: &limits,
            client,
        }
        .check(&username, form.current)
        .await?;
        if proven.map(|(id, _)| id) != Some(account_id) {
            errors.push(WRONG_CURRENT);
        }
    }
    if !errors.is_empty() {
        return refuse(&db, &catalogue, &providers, &visitor, errors).await;
    }
    let new_hash = passwords.hash(form.password).await?;
    let mut tx = db.begin().await?;
    let updated = sqlx::query!(
        "UPDATE shop.accounts SET password_hash = $2 \
         WHERE account_id = $1 AND password_hash IS NOT DISTINCT FROM $3",
        account_id,
        new_hash,
        old_hash
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        drop(tx);
        return refuse(
            &db,
            &catalogue,
            &providers,
            &visitor,
            vec![CHANGED_MEANWHILE],
        )
        .await;
    }
    // Every session of the account goes (this one included, so the id rotates); then a new one
    // for this browser, with the account's basket.
    let ended = sqlx::query!(
        "DELETE FROM shop.sessions WHERE account_id = $1 OR id_hash = $2",
        account_id,
        &session.id_hash
    )
    .execute(&mut *tx)
    .await?;
    let new = session::create(&mut tx, session.basket_id, Some((account_id, username))).await?;
    tx.commit().await?;
    tracing::info!(
        had_password = old_hash.is_some(),
        sessions_ended = ended.rows_affected(),
        "account password set"
    );
    let mut response = back_with(if old_hash.is_some() {
        "password-changed"
    } else {
        "password-set"
    });
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(&site, &new.cookie_value),
    );
    Ok(response)
}

/// The profile again with why the password form was refused (nothing typed is shown again).
async fn refuse(
    db: &PgPool,
    catalogue: &Catalogue,
    providers: &Providers,
    visitor: &Visitor,
    errors: Vec<&'static str>,
) -> Result<Response, AppError> {
    let Some(mut profile) = load(db, catalogue, providers, visitor).await? else {
        return Ok(to_login());
    };
    profile.password_errors = errors;
    page(StatusCode::OK, &profile)
}
