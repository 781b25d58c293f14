//! `POST /account/unlink/{provider}` (`csrf`): removes the logged-in account's link to a provider,
//! unless it is the account's last way to log in (no password and no other provider): then nothing
//! changes and the profile says why. The account row is locked while deciding, so two tabs
//! unlinking the last two ways at once cannot both succeed.

use super::profile::{back_with, to_login};
use crate::error::AppError;
use crate::oauth::Provider;
use crate::routes::PathText;
use crate::session::{Visitor, check_csrf};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use sqlx::PgPool;

#[derive(serde::Deserialize)]
pub struct UnlinkForm {
    #[serde(default)]
    csrf: String,
}

pub async fn unlink_provider(
    State(db): State<PgPool>,
    visitor: Visitor,
    headers: HeaderMap,
    PathText(slug): PathText,
    axum::Form(form): axum::Form<UnlinkForm>,
) -> Result<Response, AppError> {
    // A linked provider may be unlinked even when its settings were removed since.
    let provider = Provider::parse(&slug).ok_or(AppError::NotFound)?;
    check_csrf(&visitor, &form.csrf, &headers)?;
    let Some((account_id, _)) = visitor.session.as_ref().and_then(|s| s.account.clone()) else {
        return Ok(to_login());
    };
    let mut tx = db.begin().await?;
    let ways = sqlx::query!(
        r#"SELECT password_hash IS NOT NULL AS "has_password!",
                  (SELECT count(*) FROM shop.oauth_identities i
                   WHERE i.account_id = a.account_id AND i.provider <> $2) AS "others!"
           FROM shop.accounts a WHERE account_id = $1 FOR UPDATE"#,
        account_id,
        provider.as_str()
    )
    .fetch_one(&mut *tx)
    .await?;
    if !ways.has_password && ways.others == 0 {
        return Ok(back_with(&format!("{}-last", provider.as_str())));
    }
    let removed = sqlx::query!(
        "DELETE FROM shop.oauth_identities WHERE account_id = $1 AND provider = $2",
        account_id,
        provider.as_str()
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if removed.rows_affected() > 0 {
        tracing::info!(provider = provider.as_str(), "provider unlinked");
    }
    Ok(back_with(&format!("{}-unlinked", provider.as_str())))
}
