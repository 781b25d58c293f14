//! `GET /account`: the logged-in customer's profile — username, email, its ways to log in (the
//! password, set or not, with the form to set or change it; each provider, linked with the email it
//! gave, or not, with a "Link" or "Unlink" button), and delivery addresses, with the form to add
//! one. The actions answer with a 303 back here and `?notice=`, whose words come from a fixed table
//! ([`Notice::parse`]); nothing from the query is echoed. Not logged in: 303 to
//! `/login?next=/account`.

use crate::catalog::Catalogue;
use crate::domain::account::PASSWORD_RULES;
use crate::domain::address::{Address, COUNTRIES, MAX_ADDRESSES, country_name};
use crate::error::AppError;
use crate::oauth::{Provider, Providers};
use crate::routes::layout::Layout;
use crate::routes::{QueryParams, page};
use crate::session::Visitor;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgPool;
use std::sync::Arc;

pub struct AddressView {
    pub address_id: i64,
    pub lines: Vec<String>,
}

/// What an address form shows: what was typed (again after a broken rule), or the address being
/// edited. Posted by the add and edit forms alike (`csrf` beside it).
#[derive(Default, serde::Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub country: String,
}

impl AddressForm {
    /// The country shown selected: the one typed, else the United Kingdom.
    pub fn is_selected(&self, code: &str) -> bool {
        if self.country.is_empty() {
            code == "GB"
        } else {
            self.country == code
        }
    }

    /// The address it makes, or the rules it breaks.
    pub fn parse(&self) -> Result<Address, Vec<&'static str>> {
        Address::parse([
            &self.full_name,
            &self.line1,
            &self.line2,
            &self.city,
            &self.postcode,
            &self.country,
        ])
    }
}

/// One provider's line under "Ways to log in".
pub struct MethodView {
    /// In paths and element ids: `google`.
    pub slug: &'static str,
    pub name: &'static str,
    pub linked: bool,
    /// The email address the provider gave when the link was made (may be empty).
    pub email: String,
    /// Whether a "Link" button is offered (the provider is configured and not linked).
    pub can_link: bool,
}

/// A message at the top of the profile after an action: good news, or why nothing was done.
pub struct Notice {
    pub text: String,
    pub problem: bool,
}

impl Notice {
    fn ok(text: String) -> Self {
        Self {
            text,
            problem: false,
        }
    }

    fn problem(text: String) -> Self {
        Self {
            text,
            problem: true,
        }
    }

    /// The words for `?notice=` (fixed phrases; a provider code names a known provider).
    pub fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "added" => Self::ok("Address added.".to_owned()),
            "updated" => Self::ok("Address updated.".to_owned()),
            "deleted" => Self::ok("Address removed.".to_owned()),
            "password-set" => Self::ok(
                "Your password is set: you can now also log in with your username and password."
                    .to_owned(),
            ),
            "password-changed" => Self::ok(
                "Your password is changed. Everywhere else you were logged in, you are now \
                 logged out."
                    .to_owned(),
            ),
            _ => {
                let (provider, what) = code.split_once('-')?;
                let name = Provider::parse(provider)?.name();
                match what {
                    "linked" => {
                        Self::ok(format!("{name} is linked: you can now log in with it too."))
                    }
                    "unlinked" => Self::ok(format!(
                        "{name} is unlinked: you can no longer log in with it."
                    )),
                    "taken" => Self::problem(format!(
                        "That {name} account is already linked to another account at our shop, \
                         so it was not linked to this one. Nothing changed."
                    )),
                    "one" => Self::problem(format!(
                        "This account is already linked to a {name} account. Unlink it first \
                         to link another one."
                    )),
                    "denied" => {
                        Self::problem(format!("You cancelled linking {name}, so nothing changed."))
                    }
                    "failed" => Self::problem(format!(
                        "Sorry, we could not link {name}: it did not confirm who you are. \
                         Nothing changed; please try again."
                    )),
                    "last" => Self::problem(format!(
                        "{name} is the only way to log in to this account, so it was not \
                         unlinked. Set a password or link another way first."
                    )),
                    _ => return None,
                }
            }
        })
    }
}

#[derive(Template)]
#[template(path = "account/profile.html")]
pub struct ProfilePage {
    pub layout: Layout,
    pub username: String,
    pub email: String,
    /// "Google", "Facebook": the providers linked to the account, oldest link first.
    pub linked: Vec<&'static str>,
    /// False for an account made by a provider login (it logs in only through the provider).
    pub has_password: bool,
    /// Every configured or linked provider, in button order.
    pub methods: Vec<MethodView>,
    /// Whether a linked provider may be unlinked: not when it is the only way to log in.
    pub can_unlink: bool,
    /// Why the password form was refused.
    pub password_errors: Vec<&'static str>,
    pub password_rules: &'static str,
    pub addresses: Vec<AddressView>,
    pub form: AddressForm,
    pub errors: Vec<&'static str>,
    pub notice: Option<Notice>,
    pub countries: &'static [(&'static str, &'static str)],
    pub can_add: bool,
}

/// Loads the profile of the visitor's account, or `None` when nobody is logged in.
pub async fn load(
    db: &PgPool,
    catalogue: &Catalogue,
    providers: &Providers,
    visitor: &Visitor,
) -> Result<Option<ProfilePage>, AppError> {
    let Some((account_id, username)) = visitor.session.as_ref().and_then(|s| s.account.clone())
    else {
        return Ok(None);
    };
    let account = sqlx::query!(
        r#"SELECT email, password_hash IS NOT NULL AS "has_password!"
           FROM shop.accounts WHERE account_id = $1"#,
        account_id
    )
    .fetch_one(db)
    .await?;
    let identities: Vec<(Provider, String)> = sqlx::query!(
        "SELECT provider, email_at_link FROM shop.oauth_identities \
         WHERE account_id = $1 ORDER BY linked_at",
        account_id
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .filter_map(|r| {
        Some((
            Provider::parse(&r.provider)?,
            r.email_at_link.unwrap_or_default(),
        ))
    })
    .collect();
    let linked = identities.iter().map(|(p, _)| p.name()).collect();
    let methods = Provider::ALL
        .into_iter()
        .filter_map(|p| {
            let email = identities.iter().find(|(q, _)| *q == p).map(|(_, e)| e);
            (email.is_some() || providers.is_offered(p)).then(|| MethodView {
                slug: p.as_str(),
                name: p.name(),
                linked: email.is_some(),
                email: email.cloned().unwrap_or_default(),
                can_link: email.is_none(),
            })
        })
        .collect();
    let can_unlink = account.has_password || identities.len() > 1;
    let rows = sqlx::query!(
        "SELECT address_id, full_name, line1, line2, city, postcode, country \
         FROM shop.addresses WHERE account_id = $1 ORDER BY address_id",
        account_id
    )
    .fetch_all(db)
    .await?;
    let addresses: Vec<AddressView> = rows
        .into_iter()
        .map(|r| AddressView {
            address_id: r.address_id,
            lines: [
                r.full_name,
                r.line1,
                r.line2,
                r.city,
                r.postcode,
                country_name(&r.country).to_owned(),
            ]
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect(),
        })
        .collect();
    let (layout, _) = Layout::for_visitor(catalogue, visitor).await?;
    let can_add = i64::try_from(addresses.len()).unwrap_or(i64::MAX) < MAX_ADDRESSES;
    Ok(Some(ProfilePage {
        layout,
        username,
        email: account.email,
        linked,
        has_password: account.has_password,
        methods,
        can_unlink,
        password_errors: Vec::new(),
        password_rules: PASSWORD_RULES,
        addresses,
        form: AddressForm::default(),
        errors: Vec::new(),
        notice: None,
        countries: COUNTRIES,
        can_add,
    }))
}

pub fn to_login() -> Response {
    Redirect::to("/login?next=%2Faccount").into_response()
}

/// `/account?notice={code}`: where an action on the profile goes back to.
pub fn back_with(code: &str) -> Response {
    Redirect::to(&format!("/account?notice={code}")).into_response()
}

pub async fn show_profile(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(providers): State<Arc<Providers>>,
    visitor: Visitor,
    params: QueryParams,
) -> Result<Response, AppError> {
    let Some(mut profile) = load(&db, &catalogue, &providers, &visitor).await? else {
        return Ok(to_login());
    };
    profile.notice = params.get("notice").and_then(Notice::parse);
    page(StatusCode::OK, &profile)
}

#[cfg(test)]
mod tests {
    use super::Notice;

    #[test]
    fn notices_are_fixed_phrases_for_known_codes_only() {
        for code in [
            "added",
            "updated",
            "deleted",
            "password-set",
            "password-changed",
            "google-linked",
            "facebook-unlinked",
        ] {
            assert!(!Notice::parse(code).unwrap().problem, "{code}");
        }
        for code in [
            "google-taken",
            "google-one",
            "facebook-denied",
            "facebook-failed",
            "google-last",
        ] {
            let notice = Notice::parse(code).unwrap();
            assert!(notice.problem, "{code}");
            assert!(notice.text.contains("Google") || notice.text.contains("Facebook"));
        }
        for code in [
            "",
            "twitter-linked",
            "google-",
            "google-pwned",
            "Google-linked",
            "<b>",
        ] {
            assert!(Notice::parse(code).is_none(), "{code}");
        }
    }
}
