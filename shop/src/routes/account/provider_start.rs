//! `POST /login/{provider}` (`csrf`, `next`): "Continue with Google / Facebook". A POST with the
//! CSRF token rather than a link, so another site cannot start logins in a visitor's browser. It
//! creates the session when the visitor has none yet, keeps the login's `state`, nonce and PKCE
//! verifier in it (server-side, for ten minutes, single use), and answers 303 to the provider's
//! authorization URL. A provider without settings is a 404.
//!
//! [`begin`] is that start, shared with "Link" on the profile page (`link_provider.rs`), which is
//! the same login with the purpose "link to the logged-in account" kept beside its state.

use super::login::ProviderProblem;
use crate::domain::account::safe_next;
use crate::error::AppError;
use crate::oauth::{LOGIN_TTL_SECS, Provider, Providers};
use crate::routes::PathText;
use crate::session::{self, Visitor, check_csrf};
use crate::state::Site;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::sync::Arc;

/// Logins a session may have in progress at once (tabs); older ones are dropped.
const MAX_LOGINS_PER_SESSION: i64 = 5;

#[derive(serde::Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn start_provider_login(
    State(db): State<PgPool>,
    State(site): State<Arc<Site>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    headers: HeaderMap,
    PathText(slug): PathText,
    axum::Form(form): axum::Form<StartForm>,
) -> Result<Response, AppError> {
    let provider = Provider::parse(&slug)
        .filter(|p| providers.is_offered(*p))
        .ok_or(AppError::NotFound)?;
    check_csrf(&visitor, &form.csrf, &headers)?;
    let next = safe_next(Some(&form.next));
    let started = begin(&db, &providers, &visitor, provider, &next, None).await?;
    let Some((mut response, new_cookie)) = started else {
        return Ok(
            Redirect::to(&ProviderProblem::Failed.login_path(provider, &next)).into_response(),
        );
    };
    if let Some(cookie) = new_cookie {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, session::set_cookie(&site, &cookie));
    }
    Ok(response)
}

/// Starts a login with `provider` in the visitor's session (made first when there is none): keeps
/// its state, nonce and PKCE verifier, `next`, and the account it links to (`link_account`, for
/// "Link" on the profile page; `None` for a login), and answers the 303 to the provider with the
/// new session's cookie value when one was made. `None` when the provider could not be asked
/// (logged; the caller says so to the customer).
pub(super) async fn begin(
    db: &PgPool,
    providers: &Providers,
    visitor: &Visitor,
    provider: Provider,
    next: &str,
    link_account: Option<i64>,
) -> Result<Option<(Response, Option<String>)>, AppError> {
    let authorization = match providers.authorize(provider).await {
        Ok(a) => a,
        Err(refusal) => {
            tracing::warn!(provider = provider.as_str(), reason = %refusal, "provider login could not start");
            return Ok(None);
        }
    };
    let mut tx = db.begin().await?;
    let (session_hash, new_cookie) = match &visitor.session {
        Some(s) => (s.id_hash.clone(), None),
        None => {
            let new = session::create(&mut tx, None, None).await?;
            (new.session.id_hash, Some(new.cookie_value))
        }
    };
    // The table only holds logins of the last few minutes: clearing expired rows here is cheap.
    sqlx::query!("DELETE FROM shop.oauth_logins WHERE expires_at <= now()")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO shop.oauth_logins \
           (state, session_hash, provider, nonce, pkce_verifier, next, expires_at, link_account_id) \
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8)",
        authorization.state,
        &session_hash,
        provider.as_str(),
        authorization.nonce,
        authorization.pkce_verifier,
        next,
        f64::from(LOGIN_TTL_SECS),
        link_account
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM shop.oauth_logins WHERE session_hash = $1 AND state NOT IN \
         (SELECT state FROM shop.oauth_logins WHERE session_hash = $1 \
          ORDER BY expires_at DESC LIMIT $2)",
        &session_hash,
        MAX_LOGINS_PER_SESSION
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // axum's `Redirect::to` is a 303 See Other: the browser GETs the provider's page.
    Ok(Some((
        Redirect::to(authorization.url.as_str()).into_response(),
        new_cookie,
    )))
}
