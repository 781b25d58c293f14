//! `GET /login/email` and `POST /login/email` (`csrf`, `email`): a provider login that came without an
//! email address (Facebook may give none) asks for one before the account is made. A typed address
//! is never treated as verified: when an account here already has it, the customer goes on to prove
//! that account's password (`/login/link`). Without a provider login waiting in the session, both
//! go to `/login`.

use super::sign_in_and_answer;
use crate::catalog::Catalogue;
use crate::domain::account::parse_email;
use crate::error::AppError;
use crate::oauth::link::{self, Outcome, Pending};
use crate::routes::layout::Layout;
use crate::routes::page;
use crate::session::{Visitor, check_csrf};
use crate::state::Site;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "account/provider_email.html")]
struct EmailPage {
    layout: Layout,
    provider: &'static str,
    email: String,
    error: Option<&'static str>,
}

async fn render(
    catalogue: &Catalogue,
    visitor: &Visitor,
    pending: &Pending,
    email: String,
    error: Option<&'static str>,
) -> Result<Response, AppError> {
    let (layout, _) = Layout::for_visitor(catalogue, visitor).await?;
    page(
        StatusCode::OK,
        &EmailPage {
            layout,
            provider: pending.identity.provider.name(),
            email,
            error,
        },
    )
}

async fn waiting(db: &PgPool, visitor: &Visitor) -> Result<Option<Pending>, AppError> {
    super::pending_identity(db, visitor, super::Waiting::Email).await
}

pub async fn show_email_form(
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
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub async fn submit_email(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    visitor: Visitor,
    headers: HeaderMap,
    axum::Form(form): axum::Form<EmailForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let (Some(session), Some(pending)) = (&visitor.session, waiting(&db, &visitor).await?) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let email = match parse_email(&form.email) {
        Ok(email) => email,
        Err(reason) => {
            return render(&catalogue, &visitor, &pending, form.email, Some(reason)).await;
        }
    };
    let mut identity = pending.identity;
    identity.email = Some(email);
    identity.email_verified = false;
    let mut tx = db.begin().await?;
    match link::resolve(&mut tx, &identity).await? {
        Outcome::SignIn(account_id, username) => {
            tracing::info!(provider = identity.provider.as_str(), "provider login");
            sign_in_and_answer(
                tx,
                &db,
                &catalogue,
                &site,
                Some(session),
                (account_id, username),
                pending.next,
            )
            .await
        }
        Outcome::ProvePassword | Outcome::AskEmail => {
            link::keep_pending(&mut tx, &session.id_hash, &identity, &pending.next).await?;
            tx.commit().await?;
            Ok(Redirect::to("/login/link").into_response())
        }
    }
}
