//! One error type for every handler. 4xx carry text that is safe to show; 5xx are logged once here
//! and the customer sees a plain error page without details.

use crate::live::caps::CapError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("page not found")]
    NotFound,
    /// A POST without the session's CSRF token (or, with no session, from another site).
    #[error("forbidden")]
    Forbidden,
    /// Too many failed logins for an account or from an address: wait this long (backoff).
    #[error("login rate limited")]
    LoginLimited(std::time::Duration),
    /// A form that does not say what it means (a quantity that is not a number).
    #[error("bad form")]
    BadForm,
    /// A client asked for more than its share (e.g. live streams from one address): try later.
    #[error("too many requests")]
    TooMany,
    /// The site is at a capacity limit for everyone: try later.
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<CapError> for AppError {
    fn from(e: CapError) -> Self {
        match e {
            CapError::PerClient => Self::TooMany,
            CapError::Total => Self::Busy,
        }
    }
}

/// The 403 page's words: a form without a valid token is usually an old tab.
pub const FORBIDDEN_TEXT: &str = "This form has expired or did not come from our site, so nothing \
    was changed. Please go back, reload the page and try again.";

/// Seconds a client is asked to wait after a 429 or 503.
const RETRY_AFTER_SECS: &str = "30";

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            Self::NotFound => (StatusCode::NOT_FOUND, "Sorry, we could not find that page."),
            Self::Forbidden => (StatusCode::FORBIDDEN, FORBIDDEN_TEXT),
            Self::LoginLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts to log in. Please wait a little and try again.",
            ),
            Self::BadForm => (
                StatusCode::BAD_REQUEST,
                "Sorry, we could not understand that form. Please go back and try again.",
            ),
            Self::TooMany => (
                StatusCode::TOO_MANY_REQUESTS,
                "You have too many pages open with live stock. Close some and try again.",
            ),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "We are very busy right now. Please try again in a moment.",
            ),
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, something went wrong on our side. Please try again.",
                )
            }
        };
        let mut response = crate::routes::error_page(status, message)
            .unwrap_or_else(|_| (status, Html(message.to_owned())).into_response());
        if matches!(self, Self::TooMany | Self::Busy) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        if let Self::LoginLimited(wait) = self {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
