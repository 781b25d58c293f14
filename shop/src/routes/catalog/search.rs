//! `GET /search?q=…&page=…`: hats whose name, category, SKU or description contain every word.
//! Any input is safe: `%`, `_` and `\` match themselves, long input is truncated, bad pages clamp.

use super::view::{CardView, ListPage, Pager, PagerLink};
use crate::catalog::{Catalogue, ListKey};
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
    visitor: Visitor,
    State(site): State<Arc<Site>>,
    params: QueryParams,
) -> Result<Response, AppError> {
    let (mut layout, lag) = Layout::for_visitor(&catalogue, &visitor).await?;
    let query = params.get("q").and_then(SearchQuery::parse);
    let hats = match &query {
        Some(q) => catalogue.list(&ListKey::Search(q.clone())).await?,
        None => Arc::new(Vec::new()),
    };
    let text = query.as_ref().map(|q| q.text().to_owned());
    layout.query = text.clone().unwrap_or_default();
    let link = PagerLink {
        base: "/search",
        extra: &[("q", text.as_deref().unwrap_or(""))],
    };
    let ListPage {
        cards,
        total,
        pager,
    } = ListPage::of(
        &catalogue,
        &hats,
        lag,
        &site.media_base_url,
        params.get("page"),
        link,
    );
    page(
        StatusCode::OK,
        &SearchPage {
            layout,
            query: text,
            cards,
            total,
            pager,
        },
    )
}
