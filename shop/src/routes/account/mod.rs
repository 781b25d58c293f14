//! Password accounts: `GET/POST /register`, `GET/POST /login`, `POST /logout`. Every form carries
//! the CSRF token (a visitor's first form, with no session yet, must be same-origin); logging in
//! or registering rotates the session and merges the anonymous basket (`crate::accounts`). After
//! success the customer goes to `?next=` when it is a local path, otherwise `/`; when the merge
//! changed anything they first see what changed.

pub mod add_address;
pub mod delete_address;
pub mod login;
pub mod logout;
pub mod profile;
pub mod register;

use crate::accounts::{MergeNote, SignedIn};
use crate::error::AppError;
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
