//! `GET /login` and `POST /login` (`username`, `password`, `csrf`, `next`). An unknown username and
//! a wrong password get the same words and take the same time (a dummy hash is verified). Failures
//! count against the account and the client address; past their free attempts the answer is 429
//! with `Retry-After` (backoff, never lockout). The page also offers the configured login providers
//! ("Continue with …") and, after a provider login that did not work, says why (`?error=`).

use super::{ProviderButton, provider_buttons, signed_in};
use crate::accounts;
use crate::catalog::Catalogue;
use crate::client_addr::ClientAddr;
use crate::domain::account::safe_next;
use crate::error::AppError;
use crate::oauth::{Provider, Providers};
use crate::password::Passwords;
use crate::routes::layout::Layout;
use crate::routes::{QueryParams, page};
use crate::session::{Visitor, check_csrf};
use crate::state::{LoginLimits, Site};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sqlx::PgPool;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

pub const WRONG: &str = "Wrong username or password.";

#[derive(Template)]
#[template(path = "account/login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<String>,
    providers: Vec<ProviderButton>,
}

/// How a provider login ended when it sent the customer back here (`?error=google-denied`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderProblem {
    /// The customer said no at the provider (`error=access_denied`).
    Denied,
    /// The provider refused, could not be reached, or its answer did not verify.
    Failed,
    /// The login's `state` was unknown: used already, expired, or from another session.
    Expired,
}

impl ProviderProblem {
    fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    /// `/login?error=…&next=…`: where a provider login that did not work goes.
    pub fn login_path(self, provider: Provider, next: &str) -> String {
        format!(
            "/login?error={}-{}&next={}",
            provider.as_str(),
            self.as_str(),
            crate::routes::path_segment(next)
        )
    }

    /// The words for `?error=` (fixed phrases: nothing from the query is echoed).
    fn message(code: &str) -> Option<String> {
        let (provider, problem) = code.split_once('-')?;
        let name = Provider::parse(provider)?.name();
        Some(match problem {
            "denied" => format!(
                "You cancelled logging in with {name}, so you are not logged in. You can try \
                 again, or log in with your username and password."
            ),
            "failed" => format!(
                "Sorry, we could not log you in with {name}, so you are not logged in. Please try \
                 again, or log in with your username and password."
            ),
            "expired" => format!(
                "That login with {name} has expired or was already used, so you are not logged \
                 in. Please start again."
            ),
            _ => return None,
        })
    }
}

pub async fn show_login(
    State(catalogue): State<Arc<Catalogue>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    params: QueryParams,
) -> Result<Response, AppError> {
    let (layout, _) = Layout::for_visitor(&catalogue, &visitor).await?;
    page(
        StatusCode::OK,
        &LoginPage {
            layout,
            username: String::new(),
            next: safe_next(params.get("next")),
            error: params.get("error").and_then(ProviderProblem::message),
            providers: provider_buttons(&providers),
        },
    )
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The parts a password check needs.
pub struct PasswordCheck<'a> {
    pub db: &'a PgPool,
    pub passwords: &'a Passwords,
    pub limits: &'a LoginLimits,
    pub client: IpAddr,
}

impl PasswordCheck<'_> {
    /// The account (id, username) when `password` is its password. Rate limits come first (429
    /// past them); an unknown username, or an account without a password (made by a provider
    /// login), is verified against the dummy hash, so every wrong answer takes the same time and
    /// counts as a failure for the account and the address.
    pub async fn check(
        &self,
        username: &str,
        password: String,
    ) -> Result<Option<(i64, String)>, AppError> {
        let name = username.trim().to_lowercase();
        let account_key = format!("account:{name}");
        let address_key = format!("address:{}", self.client);
        let now = Instant::now();
        self.limits
            .account
            .check(&account_key, now)
            .and_then(|()| self.limits.address.check(&address_key, now))
            .map_err(AppError::LoginLimited)?;
        let account = sqlx::query!(
            "SELECT account_id, username, password_hash FROM shop.accounts WHERE lower(username) = $1",
            name
        )
        .fetch_optional(self.db)
        .await?;
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let ok = password.chars().count() <= crate::domain::account::MAX_PASSWORD
            && self.passwords.verify(hash, password).await?;
        match account.filter(|_| ok) {
            Some(a) => {
                self.limits.account.succeeded(&account_key);
                Ok(Some((a.account_id, a.username)))
            }
            None => {
                self.limits.account.failed(&account_key, Instant::now());
                self.limits.address.failed(&address_key, Instant::now());
                Ok(None)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn log_in(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    State(passwords): State<Arc<Passwords>>,
    State(limits): State<Arc<LoginLimits>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let next = safe_next(Some(&form.next));
    let account = PasswordCheck {
        db: &db,
        passwords: &passwords,
        limits: &limits,
        client,
    }
    .check(&form.username, form.password)
    .await?;
    let (mut layout, _) = Layout::load(&catalogue).await?;
    let Some((account_id, username)) = account else {
        layout.set_visitor(&visitor);
        return page(
            StatusCode::OK,
            &LoginPage {
                layout,
                username: form.username,
                next,
                error: Some(WRONG.to_owned()),
                providers: provider_buttons(&providers),
            },
        );
    };
    let mut tx = db.begin().await?;
    let signed = accounts::sign_in(
        &mut tx,
        visitor.session.as_ref(),
        (account_id, username.clone()),
        site.basket,
    )
    .await?;
    tx.commit().await?;
    signed_in(&db, &site, layout, username, signed, next).await
}
