//! What every page's frame shows: the category navigation, the search box (with the current
//! query), the lag guard's banner when stock is past the hard limit, and — for a visitor with a
//! session — the basket count and the session's CSRF token. The visitor's part is set per request
//! ([`Layout::set_visitor`]) and never cached.

use crate::catalog::{Catalogue, CategoryLink};
use crate::domain::stock::Lag;
use crate::session::Visitor;
use std::sync::Arc;

pub struct Layout {
    pub categories: Arc<Vec<CategoryLink>>,
    /// Past the hard limit (or freshness unknown): "stock is being refreshed".
    pub refreshing: bool,
    /// The search box's text.
    pub query: String,
    /// Slug of the category page being shown, for `aria-current`.
    pub current_category: Option<String>,
    /// Units in the visitor's basket (0 without a session).
    pub basket_count: i64,
    /// The session's CSRF token for the page's forms; empty without a session.
    pub csrf: String,
    /// The logged-in customer's username.
    pub username: Option<String>,
    /// This response's Content-Security-Policy nonce, which every `<script>` tag must carry.
    pub nonce: String,
}

impl Layout {
    /// The frame for catalogue pages; also returns the lag the page's stock words must use.
    pub async fn load(catalogue: &Catalogue) -> anyhow::Result<(Self, Lag)> {
        let lag = catalogue.lag().await?;
        let categories = catalogue.categories().await?;
        Ok((
            Self {
                categories,
                refreshing: lag == Lag::Hard,
                query: String::new(),
                current_category: None,
                basket_count: 0,
                csrf: String::new(),
                username: None,
                nonce: crate::csp::nonce(),
            },
            lag,
        ))
    }

    /// The frame for a page that shows the visitor's part from the start (most pages; the
    /// sign-in pages fill it from the new session instead): [`Self::load`] and then
    /// [`Self::set_visitor`].
    pub async fn for_visitor(
        catalogue: &Catalogue,
        visitor: &Visitor,
    ) -> anyhow::Result<(Self, Lag)> {
        let (mut layout, lag) = Self::load(catalogue).await?;
        layout.set_visitor(visitor);
        Ok((layout, lag))
    }

    /// A frame without anything from the database (error pages).
    pub fn bare() -> Self {
        Self {
            categories: Arc::new(Vec::new()),
            refreshing: false,
            query: String::new(),
            current_category: None,
            basket_count: 0,
            csrf: String::new(),
            username: None,
            nonce: crate::csp::nonce(),
        }
    }

    /// Adds the visitor's basket count, name and CSRF token (nothing without a session), all read
    /// with the session itself.
    pub fn set_visitor(&mut self, visitor: &Visitor) {
        self.csrf = visitor.csrf_token().unwrap_or_default().to_owned();
        self.username = visitor.username().map(str::to_owned);
        self.basket_count = visitor.basket_units();
    }

    pub fn is_current(&self, slug: &str) -> bool {
        self.current_category.as_deref() == Some(slug)
    }
}
