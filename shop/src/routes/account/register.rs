//! `GET /register` and `POST /register` (`username`, `email`, `password`, `csrf`, `next`). The
//! rules are stated on the form; a broken rule re-shows the form with what was typed (escaped) and
//! the reason. The password is hashed (argon2id, off the executor) before the transaction that
//! creates the account and signs it in, merging the anonymous basket.

use super::{ProviderButton, provider_buttons, signed_in};
use crate::accounts;
use crate::catalog::Catalogue;
use crate::domain::account::{
    PASSWORD_RULES, USERNAME_RULES, check_password, parse_email, parse_username, safe_next,
};
use crate::error::AppError;
use crate::oauth::Providers;
use crate::password::Passwords;
use crate::routes::layout::Layout;
use crate::routes::{QueryParams, page};
use crate::session::{Visitor, check_csrf};
use crate::state::Site;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "account/register.html")]
struct RegisterPage {
    layout: Layout,
    username: String,
    email: String,
    next: String,
    errors: Vec<&'static str>,
    username_rules: &'static str,
    password_rules: &'static str,
    providers: Vec<ProviderButton>,
}

pub async fn show_register(
    State(catalogue): State<Arc<Catalogue>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    params: QueryParams,
) -> Result<Response, AppError> {
    let (layout, _) = Layout::for_visitor(&catalogue, &visitor).await?;
    page(
        StatusCode::OK,
        &RegisterPage {
            layout,
            username: String::new(),
            email: String::new(),
            next: safe_next(params.get("next")),
            errors: Vec::new(),
            username_rules: USERNAME_RULES,
            password_rules: PASSWORD_RULES,
            providers: provider_buttons(&providers),
        },
    )
}

#[derive(serde::Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn register(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    State(passwords): State<Arc<Passwords>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    headers: HeaderMap,
    axum::Form(form): axum::Form<RegisterForm>,
) -> Result<Response, AppError> {
    check_csrf(&visitor, &form.csrf, &headers)?;
    let next = safe_next(Some(&form.next));
    let username = parse_username(&form.username);
    let email = parse_email(&form.email);
    let password = check_password(&form.password);
    let (mut layout, _) = Layout::load(&catalogue).await?;
    let mut errors: Vec<&'static str> = [username.as_ref().err(), email.as_ref().err()]
        .into_iter()
        .flatten()
        .copied()
        .chain(password.err())
        .collect();
    if let (Ok(username), Ok(email), true) = (&username, &email, errors.is_empty()) {
        let hash = passwords.hash(form.password).await?;
        let mut tx = db.begin().await?;
        let created = sqlx::query_scalar!(
            "INSERT INTO shop.accounts (username, email, password_hash) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING account_id",
            username,
            email,
            hash
        )
        .fetch_optional(&mut *tx)
        .await?;
        match created {
            Some(account_id) => {
                let signed = accounts::sign_in(
                    &mut tx,
                    visitor.session.as_ref(),
                    (account_id, username.clone()),
                    site.basket,
                )
                .await?;
                tx.commit().await?;
                return signed_in(&db, &site, layout, username.clone(), signed, next).await;
            }
            None => errors.push("That username is taken. Please choose another."),
        }
    }
    layout.set_visitor(&visitor);
    page(
        StatusCode::OK,
        &RegisterPage {
            layout,
            username: form.username,
            email: form.email,
            next,
            errors,
            username_rules: USERNAME_RULES,
            password_rules: PASSWORD_RULES,
            providers: provider_buttons(&providers),
        },
    )
}
