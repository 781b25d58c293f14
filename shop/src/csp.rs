//! The Content-Security-Policy, with a fresh nonce for every response. Scripts run only when their
//! tag carries that nonce (no `'self'` for scripts, no `'unsafe-inline'`), so markup injected into a
//! page cannot run even one of the site's own scripts. The nonce lives for the request's task: the
//! page frame reads it with [`nonce`] while the handler renders, and the middleware puts the same
//! one in the header. It must not hold anything else (nothing about the visitor).

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::sync::Arc;

tokio::task_local! {
    static NONCE: String;
}

/// The policy's text around the nonce, fixed at start-up.
pub struct Policy {
    before: String,
    after: String,
}

impl Policy {
    /// Same-origin everything, pictures also from the media base URL. Forms may also lead to the
    /// login providers' origins: "Continue with Google" is a POST answered by a 303 to the provider,
    /// and browsers apply `form-action` to a form's redirects too.
    pub fn new(media_base_url: &str, provider_origins: &[String]) -> anyhow::Result<Self> {
        let form_action: String = provider_origins
            .iter()
            .map(|origin| format!(" {origin}"))
            .collect();
        // A source with a path matches that exact path unless it ends in "/": the pictures live below.
        let media = format!("{}/", media_base_url.trim_end_matches('/'));
        let policy = Self {
            before: format!(
                "default-src 'self'; img-src 'self' {media} data:; style-src 'self'; script-src 'nonce-"
            ),
            after: format!(
                "'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'{form_action}"
            ),
        };
        policy
            .header("checked")
            .context("media.base_url cannot be used in a Content-Security-Policy header")?;
        Ok(policy)
    }

    fn header(&self, nonce: &str) -> Result<HeaderValue, header::InvalidHeaderValue> {
        HeaderValue::from_str(&format!("{}{nonce}{}", self.before, self.after))
    }
}

/// This request's nonce, for `<script nonce="…">`; empty outside a request (then no script runs).
pub fn nonce() -> String {
    NONCE.try_with(Clone::clone).unwrap_or_default()
}

/// Middleware: a fresh nonce for the request, and the policy naming it on the response.
pub async fn with_policy(State(policy): State<Arc<Policy>>, req: Request, next: Next) -> Response {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = STANDARD.encode(bytes);
    let mut response = NONCE.scope(nonce.clone(), next.run(req)).await;
    // Base64 and the policy checked at start-up: the header value is always valid.
    if let Ok(value) = policy.header(&nonce) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_scripts_by_nonce_only() {
        let policy = Policy::new(
            "https://cdn.example/media",
            &["https://accounts.example".into()],
        )
        .unwrap();
        let text = policy.header("abc+/=").unwrap();
        let text = text.to_str().unwrap();
        assert!(text.contains("script-src 'nonce-abc+/='; "), "{text}");
        assert!(!text.contains("unsafe-inline"), "{text}");
        assert!(
            text.contains("img-src 'self' https://cdn.example/media/ data:"),
            "{text}"
        );
        assert!(
            text.ends_with("form-action 'self' https://accounts.example"),
            "{text}"
        );
    }

    #[test]
    fn a_media_url_that_cannot_be_a_header_is_refused() {
        assert!(Policy::new("https://cdn.example/\nx", &[]).is_err());
    }

    #[tokio::test]
    async fn the_nonce_is_the_requests_own() {
        assert_eq!(nonce(), "");
        let seen = NONCE.scope("n1".to_owned(), async { nonce() }).await;
        assert_eq!(seen, "n1");
    }
}
