//! `GET /login/{provider}/callback?code=…&state=…` (or `?error=…&state=…`): where the provider sends
//! the browser back. The login started in this session is taken (deleted) by its `state` whatever
//! happens next, so a state works once, and never in another session or after ten minutes. Then
//! the code is exchanged and the identity checked (`crate::oauth`), and `oauth::link` decides:
//! sign in (rotating the session and merging the basket, as a password login does), or first ask
//! for the password of the account with the same email (`/login/link`) or for an email address
//! (`/login/email`). Anything that does not work goes back to the login page with the reason in
//! words and nobody logged in.

use super::login::ProviderProblem;
use super::sign_in_and_answer;
use crate::catalog::Catalogue;
use crate::domain::account::safe_next;
use crate::error::AppError;
use crate::oauth::link::{self, Outcome};
use crate::oauth::{Provider, Providers};
use crate::routes::{PathText, QueryParams};
use crate::session::Visitor;
use crate::state::Site;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::sync::Arc;

#[allow(clippy::too_many_arguments)]
pub async fn finish_provider_login(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    PathText(slug): PathText,
    params: QueryParams,
) -> Result<Response, AppError> {
    let provider = Provider::parse(&slug)
        .filter(|p| providers.is_offered(*p))
        .ok_or(AppError::NotFound)?;
    let back = |problem: ProviderProblem, next: &str| -> Result<Response, AppError> {
        Ok(Redirect::to(&problem.login_path(provider, next)).into_response())
    };
    let Some(session) = visitor.session.as_ref() else {
        return back(ProviderProblem::Expired, "/");
    };
    let state = params.get("state").unwrap_or_default();
    let login = sqlx::query!(
        r#"DELETE FROM shop.oauth_logins WHERE state = $1 AND session_hash = $2 AND provider = $3
           RETURNING nonce, pkce_verifier, next, expires_at > now() AS "live!""#,
        state,
        &session.id_hash,
        provider.as_str()
    )
    .fetch_optional(&db)
    .await?;
    let Some(login) = login.filter(|l| l.live) else {
        tracing::info!(
            provider = provider.as_str(),
            "provider login refused: unknown, used or expired state"
        );
        return back(ProviderProblem::Expired, "/");
    };
    let next = safe_next(Some(&login.next));
    if let Some(error) = params.get("error") {
        let problem = if error == "access_denied" {
            ProviderProblem::Denied
        } else {
            ProviderProblem::Failed
        };
        tracing::info!(
            provider = provider.as_str(),
            denied = problem == ProviderProblem::Denied,
            "provider login ended at the provider"
        );
        return back(problem, &next);
    }
    let code = params.get("code").unwrap_or_default();
    if code.is_empty() {
        return back(ProviderProblem::Failed, &next);
    }
    let identity = match providers
        .identify(provider, code, &login.nonce, &login.pkce_verifier)
        .await
    {
        Ok(identity) => identity,
        Err(refusal) => {
            tracing::warn!(provider = provider.as_str(), reason = %refusal, "provider login refused");
            return back(ProviderProblem::Failed, &next);
        }
    };
    let mut tx = db.begin().await?;
    match link::resolve(&mut tx, &identity).await? {
        Outcome::SignIn(account_id, username) => {
            tracing::info!(provider = provider.as_str(), "provider login");
            sign_in_and_answer(
                tx,
                &db,
                &catalogue,
                &site,
                Some(session),
                (account_id, username),
                next,
            )
            .await
        }
        Outcome::ProvePassword => {
            link::keep_pending(&mut tx, &session.id_hash, &identity, &next).await?;
            tx.commit().await?;
            Ok(Redirect::to("/login/link").into_response())
        }
        Outcome::AskEmail => {
            link::keep_pending(&mut tx, &session.id_hash, &identity, &next).await?;
            tx.commit().await?;
            Ok(Redirect::to("/login/email").into_response())
        }
    }
}
