//! What every page's frame shows: the category navigation, the search box (with the current
//! query), and the lag guard's banner when stock is past the hard limit. Catalogue data only,
//! nothing of a visitor's.

use crate::catalog::{Catalogue, CategoryLink};
use crate::domain::stock::Lag;
use std::sync::Arc;

pub struct Layout {
    pub categories: Arc<Vec<CategoryLink>>,
    /// Past the hard limit (or freshness unknown): "stock is being refreshed".
    pub refreshing: bool,
    /// The search box's text.
    pub query: String,
    /// Slug of the category page being shown, for `aria-current`.
    pub current_category: Option<String>,
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
            },
            lag,
        ))
    }

    /// A frame without anything from the database (error pages).
    pub fn bare() -> Self {
        Self {
            categories: Arc::new(Vec::new()),
            refreshing: false,
            query: String::new(),
            current_category: None,
        }
    }

    pub fn is_current(&self, slug: &str) -> bool {
        self.current_category.as_deref() == Some(slug)
    }
}
