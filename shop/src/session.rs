//! Server-side sessions in PostgreSQL (`shop.sessions`) and the CSRF rule for every POST form.
//!
//! A session is created lazily, by the first action that needs one (adding to the basket), never by a
//! page view. The cookie holds a 256-bit random id; the database holds only its SHA-256, so a copy of
//! the table gives nobody a working cookie. A cookie that names no session (tampered, expired,
//! deleted) is treated as no cookie at all. Each session has a synchronizer CSRF token that every
//! POST form carries and that is compared in constant time.
//!
//! This module must not render pages or know about baskets beyond the session's `basket_id` and the
//! number of units in it, which the page header shows and which is read with the session in one
//! round trip (a page view with a session costs one query, not two).

use crate::error::AppError;
use crate::session_cache::SessionCache;
use crate::state::Site;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::Method;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The cookie's name in production: `__Host-` makes browsers insist on `Secure`, `Path=/` and no
/// `Domain`, so no sibling host can set or shadow it.
pub const SECURE_COOKIE: &str = "__Host-funnyhat-session";
/// The cookie's name with `http.insecure_dev_cookies` (plain http on 127.0.0.1): the `__Host-`
/// prefix is refused by browsers without `Secure`.
pub const DEV_COOKIE: &str = "funnyhat-session";

/// A visitor's session, when the request carried a cookie that names one.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: Vec<u8>,
    pub csrf_token: String,
    pub basket_id: Option<i64>,
    /// Units in the basket when the request began (the header's count). Every change to the basket
    /// answers with a redirect, so a page never shows a count older than its own request.
    pub basket_units: i64,
    /// The logged-in account: (id, username).
    pub account: Option<(i64, String)>,
}

/// The session of this request, if any. Never creates one.
#[derive(Clone, Debug, Default)]
pub struct Visitor {
    pub session: Option<Session>,
}

impl Visitor {
    pub fn csrf_token(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.csrf_token.as_str())
    }

    pub fn basket_id(&self) -> Option<i64> {
        self.session.as_ref().and_then(|s| s.basket_id)
    }

    /// Units in the visitor's basket as the request began (0 without a session or basket).
    pub fn basket_units(&self) -> i64 {
        self.session.as_ref().map_or(0, |s| s.basket_units)
    }

    /// The logged-in customer's account, if any.
    pub fn account_id(&self) -> Option<i64> {
        self.session
            .as_ref()
            .and_then(|s| s.account.as_ref())
            .map(|(id, _)| *id)
    }

    pub fn username(&self) -> Option<&str> {
        self.session
            .as_ref()
            .and_then(|s| s.account.as_ref())
            .map(|(_, name)| name.as_str())
    }
}

/// A newly created session: the cookie value to hand out once, and the row's identity.
pub struct NewSession {
    pub cookie_value: String,
    pub session: Session,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_id(cookie_value: &str) -> Vec<u8> {
    Sha256::digest(cookie_value.as_bytes()).to_vec()
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The id hash of the request's session cookie, if it is well formed: a well-formed id is 43
/// base64url characters, and anything else cannot name a session.
fn cookie_id_hash(headers: &HeaderMap, site: &Site) -> Option<Vec<u8>> {
    cookie(headers, site.cookie_name())
        .filter(|value| value.len() == 43)
        .map(hash_id)
}

/// The request's session id hash, read once by [`forget_around_changes`] and kept in the request's
/// extensions for the [`Visitor`] extractor.
#[derive(Clone)]
struct CookieIdHash(Option<Vec<u8>>);

/// Middleware: drops this process's cached copy of the visitor's session before and after every
/// request that may change it — any method but GET and HEAD, and any response that sets a cookie
/// (a login provider's callback is a GET). The database triggers notify every process of the
/// change too, but the notification arrives a moment after the commit; dropping the copy here
/// before the response leaves means the page a form redirects to always shows its outcome.
pub async fn forget_around_changes(
    axum::extract::State((site, cache)): axum::extract::State<(Arc<Site>, Arc<SessionCache>)>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id_hash = cookie_id_hash(request.headers(), &site);
    request
        .extensions_mut()
        .insert(CookieIdHash(id_hash.clone()));
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if changes && let Some(id_hash) = &id_hash {
        cache.invalidate(id_hash);
    }
    let response = next.run(request).await;
    if (changes || response.headers().contains_key(header::SET_COOKIE))
        && let Some(id_hash) = &id_hash
    {
        cache.invalidate(id_hash);
    }
    response
}

/// Whether the request carries the session cookie at all (valid or not): such responses must not
/// be stored by shared caches.
pub fn has_session_cookie(headers: &HeaderMap, site: &Site) -> bool {
    cookie(headers, site.cookie_name()).is_some()
}

/// Creates a session with `basket_id` (and, logged in, `account`) in `tx`; the caller sets the
/// cookie once `tx` commits.
pub async fn create(
    tx: &mut sqlx::PgConnection,
    basket_id: Option<i64>,
    account: Option<(i64, String)>,
) -> sqlx::Result<NewSession> {
    let cookie_value = random_token();
    let id_hash = hash_id(&cookie_value);
    let csrf_token = random_token();
    sqlx::query!(
        "INSERT INTO shop.sessions (id_hash, csrf_token, basket_id, account_id) \
         VALUES ($1, $2, $3, $4)",
        &id_hash,
        csrf_token,
        basket_id,
        account.as_ref().map(|(id, _)| *id)
    )
    .execute(&mut *tx)
    .await?;
    Ok(NewSession {
        cookie_value,
        session: Session {
            id_hash,
            csrf_token,
            basket_id,
            basket_units: 0,
            account,
        },
    })
}

/// Ends a session (logout, or rotation at login): the row goes, so the cookie is worth nothing.
/// Returns the basket it had, when the row was still there.
pub async fn destroy(
    tx: &mut sqlx::PgConnection,
    id_hash: &[u8],
) -> sqlx::Result<Option<Option<i64>>> {
    sqlx::query_scalar!(
        "DELETE FROM shop.sessions WHERE id_hash = $1 RETURNING basket_id",
        id_hash
    )
    .fetch_optional(tx)
    .await
}

/// The `Set-Cookie` value that makes the browser forget the session cookie.
pub fn clear_cookie(site: &Site) -> HeaderValue {
    let secure = if site.insecure_dev_cookies {
        ""
    } else {
        "; Secure"
    };
    let value = format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
        site.cookie_name()
    );
    HeaderValue::from_str(&value).expect("a valid header value")
}

/// The `Set-Cookie` value for a new session.
pub fn set_cookie(site: &Site, cookie_value: &str) -> HeaderValue {
    let secure = if site.insecure_dev_cookies {
        ""
    } else {
        "; Secure"
    };
    // Persistent for as long as an idle session is kept (`basket.anonymous_days`), so an anonymous
    // basket outlives closing the browser.
    let value = format!(
        "{}={cookie_value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        site.cookie_name(),
        i64::from(site.session_days) * 86_400
    );
    HeaderValue::from_str(&value).expect("a base64url token is a valid header value")
}

impl<S> FromRequestParts<S> for Visitor
where
    S: Send + Sync,
    PgPool: FromRef<S>,
    Arc<Site>: FromRef<S>,
    Arc<SessionCache>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(visitor) = parts.extensions.get::<Visitor>() {
            return Ok(visitor.clone());
        }
        let id_hash = match parts.extensions.get::<CookieIdHash>() {
            Some(CookieIdHash(id_hash)) => id_hash.clone(),
            // A router without the middleware (none today) still reads the cookie.
            None => cookie_id_hash(&parts.headers, &Arc::<Site>::from_ref(state)),
        };
        let Some(id_hash) = id_hash else {
            return Ok(Self::default());
        };
        let cache = Arc::<SessionCache>::from_ref(state);
        // A page view is answered from this process's copy; a form post (which may change the
        // session) always reads the database (`forget_around_changes` drops the copy around it).
        let page_view = matches!(parts.method, Method::GET | Method::HEAD);
        if page_view && let Some(session) = cache.get(&id_hash) {
            let visitor = Self {
                session: Some(session),
            };
            parts.extensions.insert(visitor.clone());
            return Ok(visitor);
        }
        let ticket = cache.ticket();
        let db = PgPool::from_ref(state);
        // `last_seen_at` (for the cleanup of abandoned sessions) is written at most once a minute,
        // not on every page view: a read-only page stays a read.
        let row = sqlx::query!(
            r#"WITH touched AS (
                 UPDATE shop.sessions SET last_seen_at = now()
                 WHERE id_hash = $1 AND last_seen_at < now() - interval '60 seconds')
               SELECT s.csrf_token, s.basket_id, s.account_id,
                 (SELECT username FROM shop.accounts a WHERE a.account_id = s.account_id) AS "username?",
                 (SELECT coalesce(sum(quantity), 0)::int8 FROM shop.basket_lines l
                  WHERE l.basket_id = s.basket_id) AS "basket_units!"
               FROM shop.sessions s WHERE s.id_hash = $1"#,
            &id_hash
        )
        .fetch_optional(&db)
        .await?;
        let visitor = Self {
            session: row.map(|r| Session {
                id_hash,
                csrf_token: r.csrf_token,
                basket_id: r.basket_id,
                basket_units: r.basket_units,
                account: r.account_id.zip(r.username),
            }),
        };
        if page_view && let Some(session) = &visitor.session {
            cache.put(ticket, session);
        }
        parts.extensions.insert(visitor.clone());
        Ok(visitor)
    }
}

/// The CSRF rule for a POST form. With a session: the form's token must equal the session's
/// (constant-time). Without one there is nothing of the visitor's to forge a change to; the form
/// can only create a fresh session, and is accepted only from a same-origin page (`Origin`, or
/// `Sec-Fetch-Site: same-origin`), so another site cannot plant a session in a visitor's browser.
pub fn check_csrf(
    visitor: &Visitor,
    form_token: &str,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    match &visitor.session {
        Some(session) => {
            let ok: bool = session
                .csrf_token
                .as_bytes()
                .ct_eq(form_token.as_bytes())
                .into();
            if ok { Ok(()) } else { Err(AppError::Forbidden) }
        }
        None if same_origin(headers) => Ok(()),
        None => Err(AppError::Forbidden),
    }
}

fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = text("origin") {
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return host.is_some() && host == text("host");
    }
    text("sec-fetch-site") == Some("same-origin")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(hash_id(&a).len(), 32);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = headers(&[("cookie", "a=1; funnyhat-session=xyz"), ("cookie", "b=2")]);
        assert_eq!(cookie(&h, "funnyhat-session"), Some("xyz"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "session"), None);
    }

    #[test]
    fn csrf_needs_the_session_token_or_a_same_origin_first_form() {
        let with = Visitor {
            session: Some(Session {
                id_hash: vec![0; 32],
                csrf_token: "right".to_owned(),
                basket_id: None,
                basket_units: 0,
                account: None,
            }),
        };
        let none = headers(&[]);
        assert!(check_csrf(&with, "right", &none).is_ok());
        assert!(check_csrf(&with, "wrong", &none).is_err());
        assert!(check_csrf(&with, "", &none).is_err());
        let anon = Visitor::default();
        assert!(check_csrf(&anon, "", &none).is_err());
        let same = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(check_csrf(&anon, "", &same).is_ok());
        let cross = headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(check_csrf(&anon, "", &cross).is_err());
        let fetch = headers(&[("sec-fetch-site", "same-origin")]);
        assert!(check_csrf(&anon, "", &fetch).is_ok());
        let fetch = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(check_csrf(&anon, "", &fetch).is_err());
    }
}
