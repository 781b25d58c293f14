//! `GET /login/link` and `POST /login/link` (`csrf`, then `username` and `password`, or
//! `action=separate`): a provider login whose email belongs to an account here, when the link
//! cannot be made by itself (docs/ACCOUNTS.md). The customer proves that account's password once
//! (the password login's check: same words, same time, same rate limits) and the provider is linked
//! to it; or they choose a separate new account. Either way they are then signed in. Without a
//! provider login waiting in the session, both go to `/login`.

use super::login::{PasswordCheck, WRONG};
use super::sign_in_and_answer;
use crate::catalog::Catalogue;
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::oauth::link::{self, Pending};
use crate::password::Passwords;
use crate::routes::layout::Layout;
use crate::routes::page;
use crate::session::{Visitor, check_csrf};
use crate::state::{LoginLimits, Site};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "account/link.html")]
struct LinkPage {
    layout: Layout,
    provider: &'static str,
    email: String,
    username: String,
    error: Option<&'static str>,
}

async fn render(
    catalogue: &Catalogue,
    visitor: &Visitor,
    pending: &Pending,
    username: String,
    error: Option<&'static str>,
) -> Result<Response, AppError> {
    let (layout, _) = Layout::for_visitor(catalogue, visitor).await?;
    page(
        StatusCode::OK,
        &LinkPage {
            layout,
            provider: pending.identity.provider.name(),
            email: pending.identity.email.clone().unwrap_or_default(),
            username,
            error,
        },
    )
}

async fn waiting(db: &PgPool, visitor: &Visitor) -> Result<Option<Pending>, AppError> {
    super::pending_identity(db, visitor, super::Waiting::PasswordProof).await
}

pub async fn show_link(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
) -> Result<Response, AppError> {
    let Some(pending) = waiting(&db, &visitor).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    render(&catalogue, &visitor, &pending, String::new(), None).await
}

#[derive(serde::Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn link_account(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    State(passwords): State<Arc<Passwords>>,
    State(limits): State<Arc<LoginLimits>>,
    visitor: Visitor,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LinkForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let (Some(session), Some(pending)) = (&visitor.session, waiting(&db, &visitor).await?) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let next = pending.next.clone();
    if form.action == "separate" {
        let mut tx = db.begin().await?;
        let account = link::create_account(&mut tx, &pending.identity).await?;
        tracing::info!(
            provider = pending.identity.provider.as_str(),
            "provider login: separate account made"
        );
        return sign_in_and_answer(tx, &db, &catalogue, &site, Some(session), account, next).await;
    }
    let proven = PasswordCheck {
        db: &db,
        passwords: &passwords,
        limits: &limits,
        client,
    }
    .check(&form.username, form.password)
    .await?;
    let Some(account) = proven else {
        return render(&catalogue, &visitor, &pending, form.username, Some(WRONG)).await;
    };
    let mut tx = db.begin().await?;
    link::link(&mut tx, &pending.identity, account.0).await?;
    tracing::info!(
        provider = pending.identity.provider.as_str(),
        "provider login linked to an account after its password was proven"
    );
    sign_in_and_answer(tx, &db, &catalogue, &site, Some(session), account, next).await
}
