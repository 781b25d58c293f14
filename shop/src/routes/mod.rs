//! The public site's routes, one file per action under a folder per area, and the admin listener's
//! routes under `ops/`. The two routers are served on different listeners, so `/metrics` on the public
//! port is a plain 404.

pub mod assets;
pub mod catalog;
pub mod ops;

use crate::error::AppError;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// The customer-facing routes.
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/", get(catalog::home::show_home))
        .route("/static/{file}", get(assets::show_asset))
        .fallback(not_found)
}

/// `/healthz` and `/metrics`, for the admin listener only.
pub fn admin_router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(ops::healthz::show_health))
        .route("/metrics", get(ops::metrics::show_metrics))
}

async fn not_found() -> AppError {
    AppError::NotFound
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// Renders the shared error page with `status`; the message must be safe to show.
pub fn error_page(status: StatusCode, message: &str) -> Result<Response, askama::Error> {
    let title = status.canonical_reason().unwrap_or("Error");
    let html = ErrorPage { title, message }.render()?;
    Ok((status, Html(html)).into_response())
}
