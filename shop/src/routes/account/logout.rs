//! `POST /logout` (`csrf`): destroys the server session (the cookie is then worth nothing) and
//! tells the browser to forget it. The account's basket stays with the account.

use crate::error::AppError;
use crate::session::{self, Visitor, check_csrf};
use crate::state::Site;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::sync::Arc;

#[derive(serde::Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn log_out(
    State(db): State<PgPool>,
    State(site): State<Arc<Site>>,
    visitor: Visitor,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LogoutForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    if let Some(s) = &visitor.session {
        let mut conn = db.acquire().await?;
        session::destroy(&mut conn, &s.id_hash).await?;
    }
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&site));
    Ok(response)
}
