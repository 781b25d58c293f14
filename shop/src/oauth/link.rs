//! Which account a proven provider identity signs in to (docs/ACCOUNTS.md, "Linking"):
//!
//! 1. an identity linked before signs in to its account;
//! 2. without an email address, the customer is asked for one first;
//! 3. when a local account has the same email, the link is made by itself only if the provider says
//!    the address is verified AND the account's address is verified; otherwise the customer must
//!    prove the account's password first (or choose a separate account);
//! 4. otherwise a new account is made (no password; username from the name or email).
//!
//! Everything runs in the caller's transaction; the caller signs in (`crate::accounts::sign_in`).
//!
//! Linking from the profile page ([`link_to_account`]) is the other way in: the customer is logged
//! in, so the identity goes to that account, with no email matching, and nobody is signed in.

use super::{Identity, LOGIN_TTL_SECS, Provider};
use crate::domain::account::username_candidates;
use sqlx::PgConnection;

/// What to do with an identity.
#[derive(Debug)]
pub enum Outcome {
    /// Sign this account (id, username) in.
    SignIn(i64, String),
    /// A local account has this email: the customer proves its password (`/login/link`).
    ProvePassword,
    /// The provider gave no usable email: ask for one (`/login/email`).
    AskEmail,
}

/// Decides, and makes the link or the new account when the decision is to sign in.
pub async fn resolve(tx: &mut PgConnection, identity: &Identity) -> sqlx::Result<Outcome> {
    if let Some(account) = linked_account(tx, identity.provider, &identity.subject).await? {
        return Ok(Outcome::SignIn(account.0, account.1));
    }
    let Some(email) = identity.email.as_deref() else {
        return Ok(Outcome::AskEmail);
    };
    let same_email = sqlx::query!(
        "SELECT account_id, username, email_verified FROM shop.accounts \
         WHERE lower(email) = lower($1) ORDER BY email_verified DESC, account_id LIMIT 1",
        email
    )
    .fetch_optional(&mut *tx)
    .await?;
    match same_email {
        Some(a) if identity.email_verified && a.email_verified => {
            link(tx, identity, a.account_id).await?;
            Ok(Outcome::SignIn(a.account_id, a.username))
        }
        Some(_) => Ok(Outcome::ProvePassword),
        None => {
            let account = create_account(tx, identity).await?;
            Ok(Outcome::SignIn(account.0, account.1))
        }
    }
}

/// The account an identity is linked to, if any.
pub async fn linked_account(
    tx: &mut PgConnection,
    provider: Provider,
    subject: &str,
) -> sqlx::Result<Option<(i64, String)>> {
    Ok(sqlx::query!(
        "SELECT a.account_id, a.username FROM shop.oauth_identities i \
         JOIN shop.accounts a USING (account_id) WHERE i.provider = $1 AND i.subject = $2",
        provider.as_str(),
        subject
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| (r.account_id, r.username)))
}

/// What linking an identity to the logged-in account did.
#[derive(Debug, PartialEq, Eq)]
pub enum Linked {
    /// The link is made.
    Made,
    /// It was linked to this account already: nothing to do.
    Already,
    /// Another account has this identity: nothing changed.
    TakenElsewhere,
    /// This account is linked to another identity of the same provider: nothing changed.
    ProviderTaken,
}

/// Links `identity` to the logged-in `account_id` ("Link" on the profile page). The account row is
/// locked first, so this and unlinking (which counts the account's ways to log in) never interleave,
/// nor two links of one provider from two tabs.
pub async fn link_to_account(
    tx: &mut PgConnection,
    identity: &Identity,
    account_id: i64,
) -> sqlx::Result<Linked> {
    sqlx::query!(
        "SELECT account_id FROM shop.accounts WHERE account_id = $1 FOR UPDATE",
        account_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some((owner, _)) = linked_account(tx, identity.provider, &identity.subject).await? {
        return Ok(if owner == account_id {
            Linked::Already
        } else {
            Linked::TakenElsewhere
        });
    }
    let has_one = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM shop.oauth_identities
                          WHERE account_id = $1 AND provider = $2) AS "exists!""#,
        account_id,
        identity.provider.as_str()
    )
    .fetch_one(&mut *tx)
    .await?;
    if has_one {
        return Ok(Linked::ProviderTaken);
    }
    Ok(if link(tx, identity, account_id).await? {
        Linked::Made
    } else {
        // Another account's login linked it in the meantime.
        Linked::TakenElsewhere
    })
}

/// Links `identity` to `account_id`; false when another request linked it first (two tabs): that
/// link stays and this one is not made.
pub async fn link(
    tx: &mut PgConnection,
    identity: &Identity,
    account_id: i64,
) -> sqlx::Result<bool> {
    let made = sqlx::query!(
        "INSERT INTO shop.oauth_identities (provider, subject, account_id, email_at_link) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (provider, subject) DO NOTHING",
        identity.provider.as_str(),
        identity.subject,
        account_id,
        identity.email
    )
    .execute(&mut *tx)
    .await?;
    Ok(made.rows_affected() == 1)
}

/// A new account for `identity` (which must have an email): no password, the first free username
/// of [`username_candidates`], the email verified when the provider says so; and the link.
pub async fn create_account(
    tx: &mut PgConnection,
    identity: &Identity,
) -> sqlx::Result<(i64, String)> {
    let email = identity.email.as_deref().unwrap_or_default();
    for username in username_candidates(&identity.name, email) {
        let created = sqlx::query_scalar!(
            "INSERT INTO shop.accounts (username, email, email_verified, password_hash) \
             VALUES ($1, $2, $3, NULL) ON CONFLICT DO NOTHING RETURNING account_id",
            username,
            email,
            identity.email_verified
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(account_id) = created {
            if !link(tx, identity, account_id).await? {
                // Linked by a request that ran alongside: this transaction must not commit an
                // account nobody can log in to. The customer's retry finds the link.
                return Err(sqlx::Error::Protocol(
                    "the identity was linked by another request meanwhile".to_owned(),
                ));
            }
            return Ok((account_id, username));
        }
    }
    Err(sqlx::Error::Protocol(
        "no free username among the candidates".to_owned(),
    ))
}

/// An identity waiting for a password proof or an email address, kept in the session.
pub struct Pending {
    pub identity: Identity,
    pub next: String,
}

/// Keeps `identity` in the session (replacing one kept before) for [`LOGIN_TTL_SECS`].
pub async fn keep_pending(
    tx: &mut PgConnection,
    session_hash: &[u8],
    identity: &Identity,
    next: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO shop.oauth_pending (session_hash, provider, subject, email, email_verified, \
           display_name, next, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8)) \
         ON CONFLICT (session_hash) DO UPDATE SET provider = EXCLUDED.provider, \
           subject = EXCLUDED.subject, email = EXCLUDED.email, \
           email_verified = EXCLUDED.email_verified, display_name = EXCLUDED.display_name, \
           next = EXCLUDED.next, expires_at = EXCLUDED.expires_at",
        session_hash,
        identity.provider.as_str(),
        identity.subject,
        identity.email,
        identity.email_verified,
        identity.name,
        next,
        f64::from(LOGIN_TTL_SECS)
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The session's pending identity, when it has one that has not expired.
pub async fn pending(tx: &mut PgConnection, session_hash: &[u8]) -> sqlx::Result<Option<Pending>> {
    let row = sqlx::query!(
        "SELECT provider, subject, email, email_verified, display_name, next \
         FROM shop.oauth_pending WHERE session_hash = $1 AND expires_at > now()",
        session_hash
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.and_then(|r| {
        Some(Pending {
            identity: Identity {
                provider: Provider::parse(&r.provider)?,
                subject: r.subject,
                email: r.email,
                email_verified: r.email_verified,
                name: r.display_name,
            },
            next: r.next,
        })
    }))
}
