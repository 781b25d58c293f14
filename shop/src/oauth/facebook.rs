//! Facebook, or any plain OAuth 2 provider with a Graph-shaped user-info URL: the authorization URL
//! (scopes `public_profile email`, PKCE S256, `state`), the code exchange (client id and secret in the
//! form body, as Facebook documents), then `GET userinfo_url` with the access token as a bearer
//! token, answered `{"id", "name", "email"?}`.
//!
//! Facebook is not OpenID Connect here, so there is no ID token to verify: the identity is what the
//! user-info URL says over TLS to the configured host, for the token we were just given. Its email
//! is never treated as verified (Facebook does not say), and may be missing altogether.

use super::{Authorization, Identity, Provider, Refusal, fresh_secrets, origin_of, setting_url};
use crate::config::FacebookLogin;
use openidconnect::url::Url;
use secrecy::{ExposeSecret, SecretString};

pub struct Facebook {
    authorize_url: Url,
    token_url: Url,
    userinfo_url: Url,
    client_id: String,
    client_secret: SecretString,
    redirect: String,
    http: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
}

#[derive(serde::Deserialize)]
struct UserInfo {
    /// Graph ids are strings; accept a number too.
    id: serde_json::Value,
    name: Option<String>,
    email: Option<String>,
}

impl Facebook {
    pub fn new(
        settings: &FacebookLogin,
        redirect: String,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            authorize_url: setting_url("login.facebook.authorize_url", &settings.authorize_url)?,
            token_url: setting_url("login.facebook.token_url", &settings.token_url)?,
            userinfo_url: setting_url("login.facebook.userinfo_url", &settings.userinfo_url)?,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            redirect,
            http,
        })
    }

    /// The authorization URL's origin, for the login pages' CSP.
    pub fn origin(&self) -> String {
        origin_of(&self.authorize_url)
    }

    pub fn authorize(&self) -> Authorization {
        let (state, nonce, challenge, pkce_verifier) = fresh_secrets();
        let mut url = self.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect)
            .append_pair("scope", "public_profile email")
            .append_pair("state", state.secret())
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", challenge.method().as_str());
        Authorization {
            url,
            state: state.secret().clone(),
            // Not sent (no ID token to carry it back); stored so every login row looks alike.
            nonce: nonce.secret().clone(),
            pkce_verifier,
        }
    }

    pub async fn identify(&self, code: &str, pkce_verifier: &str) -> Result<Identity, Refusal> {
        let answer = self
            .http
            .post(self.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect),
                ("client_id", &self.client_id),
                ("client_secret", self.client_secret.expose_secret()),
                ("code_verifier", pkce_verifier),
            ])
            .send()
            .await
            .map_err(|_| Refusal::Unavailable)?;
        if answer.status().is_client_error() {
            return Err(Refusal::CodeRefused);
        }
        if !answer.status().is_success() {
            return Err(Refusal::Unavailable);
        }
        let token: TokenAnswer = answer.json().await.map_err(|_| Refusal::Unavailable)?;
        let info: UserInfo = self
            .http
            .get(self.userinfo_url.clone())
            .bearer_auth(token.access_token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|_| Refusal::Unavailable)?
            .json()
            .await
            .map_err(|_| Refusal::Unavailable)?;
        let subject = match &info.id {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(Refusal::NoSubject),
        };
        Identity::new(
            Provider::Facebook,
            &subject,
            info.email.as_deref(),
            false,
            info.name.as_deref(),
        )
    }
}
