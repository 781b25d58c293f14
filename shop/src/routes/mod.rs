//! The public site's routes, one file per action under a folder per area, and the admin listener's
//! routes under `ops/`. The two routers are served on different listeners, so `/metrics` on the public
//! port is a plain 404.
//!
//! Caching by browsers and proxies: catalogue pages seen without a session depend only on live
//! stock, so they say `Cache-Control: no-cache` (store if you like, but ask again every time). Any
//! response to a request carrying the session cookie, or setting it, says `private, no-store`
//! ([`finish_response`]): it may hold a basket count or a CSRF token.

pub mod account;
pub mod assets;
pub mod basket;
pub mod catalog;
pub mod info;
pub mod layout;
pub mod ops;

use crate::error::AppError;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use layout::Layout;

/// The customer-facing routes.
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/", get(catalog::home::show_home))
        .route("/categories/{slug}", get(catalog::category::show_category))
        .route("/search", get(catalog::search::show_search))
        .route("/hats/{item_key}", get(catalog::product::show_product))
        .route(
            "/hats/{item_key}/stock/events",
            get(catalog::stock_events::stream_stock),
        )
        .route("/basket", get(basket::show::show_basket))
        .route(
            "/basket/stock/events",
            get(basket::stock_events::stream_basket_stock),
        )
        .route("/basket/add", post(basket::add::add_to_basket))
        .route("/basket/update", post(basket::update::update_basket))
        .route("/basket/remove", post(basket::remove::remove_from_basket))
        .route(
            "/login",
            get(account::login::show_login).post(account::login::log_in),
        )
        .route(
            "/register",
            get(account::register::show_register).post(account::register::register),
        )
        .route(
            "/login/link",
            get(account::link_account::show_link).post(account::link_account::link_account),
        )
        .route(
            "/login/email",
            get(account::provider_email::show_email_form)
                .post(account::provider_email::submit_email),
        )
        .route(
            "/login/{provider}",
            post(account::provider_start::start_provider_login),
        )
        .route(
            "/login/{provider}/callback",
            get(account::provider_callback::finish_provider_login),
        )
        .route("/logout", post(account::logout::log_out))
        .route("/account", get(account::profile::show_profile))
        .route(
            "/account/link/{provider}",
            post(account::link_provider::start_link),
        )
        .route(
            "/account/unlink/{provider}",
            post(account::unlink_provider::unlink_provider),
        )
        .route(
            "/account/password",
            post(account::set_password::set_password),
        )
        .route(
            "/account/addresses",
            post(account::add_address::add_address),
        )
        .route(
            "/account/addresses/delete",
            post(account::delete_address::delete_address),
        )
        .route(
            "/account/addresses/{address_id}",
            post(account::edit_address::update_address),
        )
        .route(
            "/account/addresses/{address_id}/edit",
            get(account::edit_address::show_edit_address),
        )
        .route("/contact", get(info::contact::show_contact))
        .route("/returns", get(info::returns::show_returns))
        .route("/privacy", get(info::privacy::show_privacy))
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
    layout: Layout,
    title: &'a str,
    message: &'a str,
}

/// Renders the shared error page with `status`; the message must be safe to show. It needs no
/// database (the error may be that the database is down), so its header has no categories.
pub fn error_page(status: StatusCode, message: &str) -> Result<Response, askama::Error> {
    let title = status.canonical_reason().unwrap_or("Error");
    let html = ErrorPage {
        layout: Layout::bare(),
        title,
        message,
    }
    .render()?;
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The last step of every public response: session responses are never stored by shared caches
/// (`Cache-Control: private, no-store`); a 4xx without a page of ours (a body over 16 KiB, a form
/// axum could not read, a wrong method) becomes one; HSTS when customers use https.
pub async fn finish_response(
    axum::extract::State(site): axum::extract::State<std::sync::Arc<crate::state::Site>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let had_cookie = crate::session::has_session_cookie(request.headers(), &site);
    let mut response = next.run(request).await;
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if status.is_client_error() && !is_html {
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                "That form was too large for us to accept (at most 16 KiB). Please go back and try again with less text."
            }
            StatusCode::NOT_FOUND => "Sorry, we could not find that page.",
            _ => "Sorry, we could not understand that request. Please go back and try again.",
        };
        if let Ok(page) = error_page(status, message) {
            let keep = response.headers().get(header::RETRY_AFTER).cloned();
            response = page;
            if let Some(v) = keep {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
    }
    let sets_cookie = response.headers().contains_key(header::SET_COOKIE);
    if had_cookie || sets_cookie {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    if site.public_url.starts_with("https://") {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// A rendered page with the catalogue's caching rule (see the module doc).
pub fn page(status: StatusCode, template: &impl Template) -> Result<Response, AppError> {
    let html = template.render()?;
    Ok((
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Html(html),
    )
        .into_response())
}

/// The query string's parameters, decoded leniently: invalid percent-encoding or non-UTF-8 bytes
/// become U+FFFD instead of a 400, repeated names keep their first value. Never rejects.
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(query: &str) -> Self {
        Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.uri.query().map(Self::parse).unwrap_or_default())
    }
}

/// A route's single path parameter (an item key, a category slug). Text that cannot name anything
/// (not UTF-8 after decoding, or holding a NUL, which PostgreSQL text cannot store) is a plain 404
/// rather than a 400 or a database error.
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(key)) if !key.contains('\0') => Ok(Self(key)),
            _ => Err(AppError::NotFound),
        }
    }
}

/// Percent-encodes one path segment (an item key may hold `/`, `|`, spaces, anything).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_never_fail() {
        let p = QueryParams::parse("q=%FF%FEhat&page=2&page=3&x=%zz");
        assert_eq!(p.get("q"), Some("\u{FFFD}\u{FFFD}hat"));
        assert_eq!(p.get("page"), Some("2"));
        assert_eq!(p.get("x"), Some("%zz"));
        assert_eq!(p.get("missing"), None);
        assert_eq!(QueryParams::parse("q=a+b%25").get("q"), Some("a b%"));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("17"), "17");
        assert_eq!(path_segment("a/b|c d"), "a%2Fb%7Cc%20d");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}
