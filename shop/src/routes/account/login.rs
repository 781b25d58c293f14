//! `GET /login` and `POST /login` (`username`, `password`, `csrf`, `next`). An unknown username and
//! a wrong password get the same words and take the same time (a dummy hash is verified). Failures
//! count against the account and the client address; past their free attempts the answer is 429
//! with `Retry-After` (backoff, never lockout).

use super::signed_in;
use crate::accounts;
use crate::catalog::Catalogue;
use crate::client_addr::ClientAddr;
use crate::domain::account::safe_next;
use crate::error::AppError;
use crate::password::Passwords;
use crate::routes::layout::Layout;
use crate::routes::{QueryParams, page};
use crate::session::{Visitor, check_csrf};
use crate::state::{LoginLimits, Site};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Instant;

pub const WRONG: &str = "Wrong username or password.";

#[derive(Template)]
#[template(path = "account/login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<&'static str>,
}

pub async fn show_login(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
    params: QueryParams,
) -> Result<Response, AppError> {
    let (mut layout, _) = Layout::load(&catalogue).await?;
    layout.set_visitor(&db, &visitor).await?;
    page(
        StatusCode::OK,
        &LoginPage {
            layout,
            username: String::new(),
            next: safe_next(params.get("next")),
            error: None,
        },
    )
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn log_in(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    State(passwords): State<Arc<Passwords>>,
    State(limits): State<Arc<LoginLimits>>,
    visitor: Visitor,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let next = safe_next(Some(&form.next));
    let name = form.username.trim().to_lowercase();
    let account_key = format!("account:{name}");
    let address_key = format!("address:{client}");
    let now = Instant::now();
    limits
        .account
        .check(&account_key, now)
        .and_then(|()| limits.address.check(&address_key, now))
        .map_err(AppError::LoginLimited)?;
    let account = sqlx::query!(
        "SELECT account_id, username, password_hash FROM shop.accounts WHERE lower(username) = $1",
        name
    )
    .fetch_optional(&db)
    .await?;
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let ok = form.password.chars().count() <= crate::domain::account::MAX_PASSWORD
        && passwords.verify(hash, form.password).await?;
    let (mut layout, _) = Layout::load(&catalogue).await?;
    let Some(account) = account.filter(|_| ok) else {
        limits.account.failed(&account_key, Instant::now());
        limits.address.failed(&address_key, Instant::now());
        layout.set_visitor(&db, &visitor).await?;
        return page(
            StatusCode::OK,
            &LoginPage {
                layout,
                username: form.username,
                next,
                error: Some(WRONG),
            },
        );
    };
    limits.account.succeeded(&account_key);
    let mut tx = db.begin().await?;
    let signed = accounts::sign_in(
        &mut tx,
        visitor.session.as_ref(),
        (account.account_id, account.username.clone()),
        site.basket,
    )
    .await?;
    tx.commit().await?;
    signed_in(&db, &site, layout, account.username, signed, next).await
}
