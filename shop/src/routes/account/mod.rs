//! Accounts: `GET/POST /register`, `GET/POST /login`, `POST /logout`, and logging in with a provider:
//! `POST /login/{provider}` (start), `GET /login/{provider}/callback`, and the two forms a provider
//! login may need before it is done, `GET/POST /login/link` (prove the password of the account with
//! the same email) and `GET/POST /login/email` (an email address the provider did not give). Every
//! form carries the CSRF token (a visitor's first form, with no session yet, must be same-origin);
//! every way of logging in rotates the session and merges the anonymous basket (`crate::accounts`).
//! After success the customer goes to `?next=` when it is a local path, otherwise `/`; when the
//! merge changed anything they first see what changed.
//!
//! On the profile page (`/account`, logged in): `POST /account/link/{provider}` (a provider login
//! whose callback links the identity to this account), `POST /account/unlink/{provider}`, and
//! `POST /account/password` (set a first password, or change it with the current one).

pub mod add_address;
pub mod delete_address;
pub mod edit_address;
pub mod link_account;
pub mod link_provider;
pub mod login;
pub mod logout;
pub mod profile;
pub mod provider_callback;
pub mod provider_email;
pub mod provider_start;
pub mod register;
pub mod set_password;
pub mod unlink_provider;

use crate::accounts::{MergeNote, SignedIn};
use crate::error::AppError;
use crate::oauth::Providers;
use crate::routes::layout::Layout;
use crate::routes::page;
use crate::session;
use crate::state::Site;
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Template)]
#[template(path = "account/welcome.html")]
struct WelcomePage {
    layout: Layout,
    username: String,
    notes: Vec<MergeNote>,
    next: String,
}

/// A "Continue with …" button on the login and register pages.
pub struct ProviderButton {
    /// In the path and the element id: `google`.
    pub slug: &'static str,
    pub name: &'static str,
}

fn provider_buttons(providers: &Providers) -> Vec<ProviderButton> {
    providers
        .offered()
        .into_iter()
        .map(|p| ProviderButton {
            slug: p.as_str(),
            name: p.name(),
        })
        .collect()
}

/// Signs `account` in inside `tx` (rotating `old` and merging its basket), commits, and answers as
/// every way of logging in does ([`signed_in`]).
async fn sign_in_and_answer(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    db: &sqlx::PgPool,
    catalogue: &crate::catalog::Catalogue,
    site: &Site,
    old: Option<&session::Session>,
    (account_id, username): (i64, String),
    next: String,
) -> Result<Response, AppError> {
    let signed =
        crate::accounts::sign_in(&mut tx, old, (account_id, username.clone()), site.basket).await?;
    tx.commit().await?;
    let (layout, _) = Layout::load(catalogue).await?;
    signed_in(db, site, layout, username, signed, next).await
}

/// The answer to a successful login or registration: the new cookie, and either a 303 to `next`
/// or, when the merge changed the basket, a page saying how.
async fn signed_in(
    db: &sqlx::PgPool,
    site: &Site,
    mut layout: Layout,
    username: String,
    signed: SignedIn,
    next: String,
) -> Result<Response, AppError> {
    let mut response = if signed.notes.is_empty() {
        Redirect::to(&next).into_response()
    } else {
        layout.csrf.clone_from(&signed.session.session.csrf_token);
        layout.username = Some(username.clone());
        if let Some(id) = signed.session.session.basket_id {
            layout.basket_count = crate::db::basket::count(db, id).await?;
        }
        page(
            StatusCode::OK,
            &WelcomePage {
                layout,
                username,
                notes: signed.notes,
                next,
            },
        )?
    };
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(site, &signed.session.cookie_value),
    );
    Ok(response)
}

/// What a provider login waits for before it is done.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiting {
    /// The password of the local account with the same email.
    PasswordProof,
    /// An email address the provider did not give.
    Email,
}

/// The session's identity from a provider, when it is waiting for `what`.
pub(super) async fn pending_identity(
    db: &sqlx::PgPool,
    visitor: &session::Visitor,
    what: Waiting,
) -> Result<Option<crate::oauth::link::Pending>, AppError> {
    let Some(session) = &visitor.session else {
        return Ok(None);
    };
    let mut conn = db.acquire().await?;
    Ok(crate::oauth::link::pending(&mut conn, &session.id_hash)
        .await?
        .filter(|p| (what == Waiting::Email) == p.identity.email.is_none()))
}
