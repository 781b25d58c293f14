//! `GET /search?q=…&page=…`: hats whose name, category, SKU or description contain every word.
//! Any input is safe: `%`, `_` and `\` match themselves, long input is truncated, bad pages clamp.

use super::view::{self, CardView, Pager};
use crate::catalog::{Catalogue, ListKey};
use crate::domain::paging::Page;
use crate::domain::search::SearchQuery;
use crate::error::AppError;
use crate::routes::layout::Layout;
use crate::routes::{QueryParams, page};
use crate::session::Visitor;
use crate::state::Site;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    layout: Layout,
    /// `None`: nothing was asked, show the prompt.
    query: Option<String>,
    cards: Vec<CardView>,
    total: usize,
    pager: Pager,
}

pub async fn show_search(
    State(catalogue): State<Arc<Catalogue>>,
    State(db): State<PgPool>,
    visitor: Visitor,
    State(site): State<Arc<Site>>,
    params: QueryParams,
) -> Result<Response, AppError> {
    let (mut layout, lag) = Layout::load(&catalogue).await?;
    layout.set_visitor(&db, &visitor).await?;
    let query = params.get("q").and_then(SearchQuery::parse);
    let hats = match &query {
        Some(q) => catalogue.list(&ListKey::Search(q.clone())).await?,
        None => Arc::new(Vec::new()),
    };
    let at = Page::clamp(
        params.get("page"),
        hats.len(),
        catalogue.settings().page_size,
    );
    let cards = view::cards(
        &catalogue,
        &hats[at.range(hats.len())],
        lag,
        &site.media_base_url,
    );
    let text = query.as_ref().map(|q| q.text().to_owned());
    layout.query = text.clone().unwrap_or_default();
    let pager = Pager::new(&at, "/search", &[("q", text.as_deref().unwrap_or(""))]);
    page(
        StatusCode::OK,
        &SearchPage {
            layout,
            query: text,
            cards,
            total: hats.len(),
            pager,
        },
    )
}
