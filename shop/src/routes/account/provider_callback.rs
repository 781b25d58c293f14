//! `GET /login/{provider}/callback?code=…&state=…` (or `?error=…&state=…`): where the provider sends
//! the browser back. The login started in this session is taken (deleted) by its `state` whatever
//! happens next, so a state works once, and never in another session or after ten minutes. Then
//! the code is exchanged and the identity checked (`crate::oauth`), and `oauth::link` decides:
//! sign in (rotating the session and merging the basket, as a password login does), or first ask
//! for the password of the account with the same email (`/login/link`) or for an email address
//! (`/login/email`). Anything that does not work goes back to the login page with the reason in
//! words and nobody logged in.
//!
//! A login started by "Link" on the profile page (`link_provider.rs`) names the account it is for.
//! Its callback is the same up to the identity; then the identity is linked to that account
//! (`link::link_to_account`) — only while this session is still logged in to it — and the customer
//! goes back to the profile with what happened. It never signs anyone in or swaps the session.

use super::login::ProviderProblem;
use super::profile::back_with;
use super::sign_in_and_answer;
use crate::catalog::Catalogue;
use crate::domain::account::safe_next;
use crate::error::AppError;
use crate::oauth::Identity;
use crate::oauth::link::{self, Linked, Outcome};
use crate::oauth::{Provider, Providers};
use crate::routes::{PathText, QueryParams};
use crate::session::{Session, Visitor};
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
           RETURNING nonce, pkce_verifier, next, link_account_id,
             expires_at > now() AS "live!""#,
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
    // A link answers on the profile page: `/account?notice=google-denied`.
    let link_back = |problem: ProviderProblem| -> Result<Response, AppError> {
        let what = if problem == ProviderProblem::Denied {
            "denied"
        } else {
            "failed"
        };
        Ok(back_with(&format!("{}-{what}", provider.as_str())))
    };
    let refused = |problem: ProviderProblem, next: &str| match login.link_account_id {
        Some(_) => link_back(problem),
        None => back(problem, next),
    };
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
        return refused(problem, &next);
    }
    let code = params.get("code").unwrap_or_default();
    if code.is_empty() {
        return refused(ProviderProblem::Failed, &next);
    }
    let identity = match providers
        .identify(provider, code, &login.nonce, &login.pkce_verifier)
        .await
    {
        Ok(identity) => identity,
        Err(refusal) => {
            tracing::warn!(provider = provider.as_str(), reason = %refusal, "provider login refused");
            return refused(ProviderProblem::Failed, &next);
        }
    };
    if let Some(account_id) = login.link_account_id {
        return finish_link(&db, session, provider, &identity, account_id).await;
    }
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

/// The end of "Link" on the profile page: links `identity` to `account_id` when this session is
/// still logged in to that account, and goes back to the profile saying what happened.
async fn finish_link(
    db: &PgPool,
    session: &Session,
    provider: Provider,
    identity: &Identity,
    account_id: i64,
) -> Result<Response, AppError> {
    // The login row is deleted with its session (logout, or any login, rotates it), so this holds
    // whenever the row was found; checked again so that nothing is ever linked to an account this
    // browser is not logged in to.
    if session.account.as_ref().map(|(id, _)| *id) != Some(account_id) {
        tracing::info!(
            provider = provider.as_str(),
            "provider link refused: the session is no longer logged in to the account"
        );
        return Ok(
            Redirect::to(&ProviderProblem::Expired.login_path(provider, "/account"))
                .into_response(),
        );
    }
    let mut tx = db.begin().await?;
    let linked = link::link_to_account(&mut tx, identity, account_id).await?;
    tx.commit().await?;
    tracing::info!(provider = provider.as_str(), outcome = ?linked, "provider link from the profile");
    let what = match linked {
        Linked::Made | Linked::Already => "linked",
        Linked::TakenElsewhere => "taken",
        Linked::ProviderTaken => "one",
    };
    Ok(back_with(&format!("{}-{what}", provider.as_str())))
}
