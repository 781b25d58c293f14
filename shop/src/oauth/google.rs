//! Google, or any OpenID Connect provider: discovery (`{issuer}/.well-known/openid-configuration`
//! and its JWKS, kept for an hour), the authorization URL (scopes `openid email profile`, PKCE S256,
//! `state`, `nonce`), the code exchange, and the ID token checked by `openidconnect`: signature
//! against the provider's published keys, issuer, audience (our client id), expiry and nonce.
//!
//! When a token names a key we do not have (the provider rotated its keys), the keys are fetched
//! again once before the token is refused.

use super::{Authorization, Identity, Provider, Refusal, fresh_secrets, origin_of, setting_url};
use crate::config::GoogleLogin;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse,
};
use secrecy::ExposeSecret;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long discovered metadata (endpoints and keys) is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Keys are fetched again for an unknown key id at most this often.
const MIN_REFETCH: Duration = Duration::from_secs(30);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub struct Google {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    http: reqwest::Client,
    /// The last discovery and when it was made. Never held across an await.
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl Google {
    pub fn new(
        settings: &GoogleLogin,
        redirect: String,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        setting_url("login.google.issuer_url", &settings.issuer_url)?;
        Ok(Self {
            issuer: IssuerUrl::new(settings.issuer_url.clone())?,
            client_id: ClientId::new(settings.client_id.clone()),
            client_secret: ClientSecret::new(settings.client_secret.expose_secret().to_owned()),
            redirect: RedirectUrl::new(redirect)?,
            http,
            metadata: Mutex::new(None),
        })
    }

    /// The issuer's origin: the authorization endpoint must be on it (see [`Self::authorize`]).
    pub fn origin(&self) -> String {
        origin_of(self.issuer.url())
    }

    async fn metadata(&self, refetch: bool) -> Result<CoreProviderMetadata, Refusal> {
        {
            let cached = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, metadata)) = cached.as_ref() {
                let limit = if refetch { MIN_REFETCH } else { METADATA_TTL };
                if at.elapsed() < limit {
                    return Ok(metadata.clone());
                }
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|_| Refusal::Unavailable)?;
        *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(&self, metadata: CoreProviderMetadata) -> Client {
        CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    pub async fn authorize(&self) -> Result<Authorization, Refusal> {
        let metadata = self.metadata(false).await?;
        // The login pages' CSP allows forms to lead to the issuer's origin only.
        if origin_of(metadata.authorization_endpoint().url()) != self.origin() {
            return Err(Refusal::ForeignAuthorizeOrigin);
        }
        let (state, nonce, challenge, pkce_verifier) = fresh_secrets();
        let (url, state, nonce) = self
            .client(metadata)
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state,
                move || nonce,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier,
        })
    }

    pub async fn identify(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Identity, Refusal> {
        let metadata = self.metadata(false).await?;
        let client = self.client(metadata);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| Refusal::Unavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(_) => Refusal::CodeRefused,
                _ => Refusal::Unavailable,
            })?;
        let nonce = Nonce::new(nonce.to_owned());
        match verify(&client, &token, &nonce) {
            Err(Refusal::BadSignature) if unknown_key(&client, &token) => {
                // Perhaps the provider rotated its keys since we fetched them.
                let client = self.client(self.metadata(true).await?);
                verify(&client, &token, &nonce)
            }
            other => other,
        }
    }
}

/// Whether the ID token names a key the client does not know.
fn unknown_key(client: &Client, token: &CoreTokenResponse) -> bool {
    token.id_token().is_some_and(|id_token| {
        matches!(
            id_token.signing_key(&client.id_token_verifier()),
            Err(SignatureVerificationError::NoMatchingKey)
        )
    })
}

fn verify(client: &Client, token: &CoreTokenResponse, nonce: &Nonce) -> Result<Identity, Refusal> {
    let id_token = token.id_token().ok_or(Refusal::NoIdToken)?;
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, nonce).map_err(|e| match e {
        ClaimsVerificationError::Expired(_) => Refusal::Expired,
        ClaimsVerificationError::InvalidAudience(_) => Refusal::WrongAudience,
        ClaimsVerificationError::InvalidIssuer(_) => Refusal::WrongIssuer,
        ClaimsVerificationError::InvalidNonce(_) => Refusal::WrongNonce,
        ClaimsVerificationError::SignatureVerification(_) => Refusal::BadSignature,
        _ => Refusal::InvalidToken,
    })?;
    // The access token must be the one the ID token was issued with (when it says which).
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|_| Refusal::InvalidToken)?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|_| Refusal::BadSignature)?;
        let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
            .map_err(|_| Refusal::InvalidToken)?;
        if actual != *expected {
            return Err(Refusal::InvalidToken);
        }
    }
    Identity::new(
        Provider::Google,
        claims.subject().as_str(),
        claims.email().map(|e| e.as_str()),
        claims.email_verified() == Some(true),
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
    )
}
