//! "Continue with Google" and "Continue with Facebook": the providers the settings configure, the
//! authorization request sent to them (authorization code flow with PKCE, `state` and, for OpenID
//! Connect, `nonce`), and the identity a callback proves. See docs/ACCOUNTS.md.
//!
//! This module talks to the providers and says who the person is; it never touches sessions,
//! accounts or pages (the routes under `routes/account/` do, with [`link`] deciding which account an
//! identity signs in to). It must never log a code, a token, a verifier or a secret: refusals are
//! logged as a [`Refusal`], a fixed phrase.

pub mod facebook;
pub mod google;
pub mod link;

use crate::config;
use anyhow::Context;
use openidconnect::url::Url;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge};
use std::time::Duration;

/// How long a started login may take: the state, nonce and verifier expire after this, and so
/// does an identity waiting for a password proof or an email address.
pub const LOGIN_TTL_SECS: i32 = 600;

/// Bound on every call to a provider (discovery, keys, token, user info).
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// A login provider. In the database it is its [`Provider::as_str`] (checked by the schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Google,
    Facebook,
}

impl Provider {
    pub const ALL: [Self; 2] = [Self::Google, Self::Facebook];

    /// The name in paths and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Facebook => "facebook",
        }
    }

    /// The name customers read.
    pub fn name(self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::Facebook => "Facebook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// Why a provider login was refused, for the log (never shown to customers, who only learn that
/// it failed). Fixed phrases: nothing the provider sent is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the provider could not be reached or its answer could not be read")]
    Unavailable,
    #[error("the provider refused the authorization code")]
    CodeRefused,
    #[error("the token response has no ID token")]
    NoIdToken,
    #[error("bad signature: the ID token does not verify against the provider's keys")]
    BadSignature,
    #[error("wrong issuer: the ID token is not from the configured issuer")]
    WrongIssuer,
    #[error("wrong audience: the ID token is not for our client id")]
    WrongAudience,
    #[error("expired: the ID token has expired")]
    Expired,
    #[error("wrong nonce: the ID token is not for this login")]
    WrongNonce,
    #[error("the ID token is invalid")]
    InvalidToken,
    #[error("the provider's authorization endpoint is not on its issuer's origin")]
    ForeignAuthorizeOrigin,
    #[error("the user-info answer has no usable id")]
    NoSubject,
}

/// Who the provider says the person is.
#[derive(Clone, Debug)]
pub struct Identity {
    pub provider: Provider,
    /// The provider's stable id for the person (never their email).
    pub subject: String,
    /// Normalised as the register form does (`parse_email`); `None` when absent or unusable.
    pub email: Option<String>,
    /// Only when the provider says so explicitly (Google's `email_verified`; never Facebook).
    pub email_verified: bool,
    /// The person's name as the provider has it (may be empty); only used to suggest a username.
    pub name: String,
}

impl Identity {
    fn new(
        provider: Provider,
        subject: &str,
        email: Option<&str>,
        email_verified: bool,
        name: Option<&str>,
    ) -> Result<Self, Refusal> {
        let subject = subject.trim();
        if subject.is_empty() || subject.len() > 255 {
            return Err(Refusal::NoSubject);
        }
        let email = email.and_then(|e| crate::domain::account::parse_email(e).ok());
        Ok(Self {
            provider,
            subject: subject.to_owned(),
            email_verified: email_verified && email.is_some(),
            email,
            name: name.unwrap_or_default().chars().take(200).collect(),
        })
    }
}

/// What the start of a login must keep (server-side, in the session) for its callback.
pub struct Authorization {
    /// Where to send the browser (a 303).
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Fresh secrets for one login: 256-bit `state` and `nonce`, and a PKCE S256 pair.
fn fresh_secrets() -> (CsrfToken, Nonce, PkceCodeChallenge, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (
        CsrfToken::new_random_len(32),
        Nonce::new_random_len(32),
        challenge,
        verifier.secret().clone(),
    )
}

/// The configured providers, resolved once at start-up.
pub struct Providers {
    google: Option<google::Google>,
    facebook: Option<facebook::Facebook>,
}

impl Providers {
    /// Checks the settings (URLs parse) and prepares the HTTP client; contacts nobody.
    pub fn new(settings: &config::Login, public_url: &str) -> anyhow::Result<Self> {
        // Following redirects would let a provider's answer send us anywhere (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .context("HTTP client for the login providers")?;
        let redirect = |p: Provider| {
            format!(
                "{}/login/{}/callback",
                public_url.trim_end_matches('/'),
                p.as_str()
            )
        };
        Ok(Self {
            google: settings
                .google
                .as_ref()
                .map(|g| google::Google::new(g, redirect(Provider::Google), http.clone()))
                .transpose()
                .context("login.google")?,
            facebook: settings
                .facebook
                .as_ref()
                .map(|f| facebook::Facebook::new(f, redirect(Provider::Facebook), http.clone()))
                .transpose()
                .context("login.facebook")?,
        })
    }

    /// The providers with settings, in button order.
    pub fn offered(&self) -> Vec<Provider> {
        Provider::ALL
            .into_iter()
            .filter(|p| self.is_offered(*p))
            .collect()
    }

    pub fn is_offered(&self, provider: Provider) -> bool {
        match provider {
            Provider::Google => self.google.is_some(),
            Provider::Facebook => self.facebook.is_some(),
        }
    }

    /// Origins the login pages' forms may end up at (the 303 after "Continue with …"), for the
    /// CSP's `form-action`: browsers apply it to the redirects that follow a form's POST.
    pub fn form_action_origins(&self) -> Vec<String> {
        let mut origins = Vec::new();
        if let Some(g) = &self.google {
            origins.push(g.origin());
        }
        if let Some(f) = &self.facebook {
            origins.push(f.origin());
        }
        origins
    }

    /// A new authorization request for `provider` (which must be offered).
    pub async fn authorize(&self, provider: Provider) -> Result<Authorization, Refusal> {
        match provider {
            Provider::Google => self.google()?.authorize().await,
            Provider::Facebook => Ok(self.facebook()?.authorize()),
        }
    }

    /// Exchanges the callback's `code` (with the login's PKCE verifier) and says who logged in.
    pub async fn identify(
        &self,
        provider: Provider,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Identity, Refusal> {
        match provider {
            Provider::Google => self.google()?.identify(code, nonce, pkce_verifier).await,
            Provider::Facebook => self.facebook()?.identify(code, pkce_verifier).await,
        }
    }

    fn google(&self) -> Result<&google::Google, Refusal> {
        self.google.as_ref().ok_or(Refusal::Unavailable)
    }

    fn facebook(&self) -> Result<&facebook::Facebook, Refusal> {
        self.facebook.as_ref().ok_or(Refusal::Unavailable)
    }
}

/// `scheme://host[:port]` of a URL, as CSP source expressions want it.
fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Parses a URL from the settings, saying which key was wrong (never the value's secrets: these
/// are public endpoints).
fn setting_url(key: &str, text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text).with_context(|| format!("{key} is not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "https" | "http"),
        "{key} must be an http(s) URL"
    );
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_round_trip_their_names() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert_eq!(Provider::parse("Google"), None);
        assert_eq!(Provider::parse("twitter"), None);
    }

    #[test]
    fn identities_need_a_subject_and_verified_means_an_email() {
        assert_eq!(
            Identity::new(Provider::Google, " ", None, false, None).unwrap_err(),
            Refusal::NoSubject
        );
        let i = Identity::new(
            Provider::Google,
            "123",
            Some("not an email"),
            true,
            Some("Ann"),
        )
        .unwrap();
        assert_eq!(i.email, None);
        assert!(!i.email_verified);
        let i = Identity::new(Provider::Google, "123", Some("Ann@X.TEST"), true, None).unwrap();
        assert_eq!(i.email.as_deref(), Some("Ann@x.test"));
        assert!(i.email_verified);
    }

    #[test]
    fn secrets_are_fresh_and_long() {
        let (a, n, _, v) = fresh_secrets();
        let (b, _, _, w) = fresh_secrets();
        assert_ne!(a.secret(), b.secret());
        assert_ne!(v, w);
        assert!(a.secret().len() >= 43 && n.secret().len() >= 43 && v.len() >= 43);
    }
}
