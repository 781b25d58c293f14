//! `GET /static/{file}`: the site's own stylesheet, images and script, compiled into the binary so a
//! deploy is one file and the CSP can stay `'self'` (no inline script anywhere).

use crate::error::AppError;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;

/// (file name, content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "site.css",
        "text/css; charset=utf-8",
        include_str!("../static/site.css"),
    ),
    (
        "logo.svg",
        "image/svg+xml",
        include_str!("../static/logo.svg"),
    ),
    (
        "hat-placeholder.svg",
        "image/svg+xml",
        include_str!("../static/hat-placeholder.svg"),
    ),
    (
        "basket-live.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/basket-live.js"),
    ),
    (
        "live-stock.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/live-stock.js"),
    ),
];

pub async fn show_asset(Path(file): Path<String>) -> Result<impl IntoResponse, AppError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or(AppError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        *body,
    ))
}
