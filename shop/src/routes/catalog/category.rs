//! `GET /categories/{slug}`: the hats of one category (categories come from the replica's
//! `category` names; the slug is made from the name).

use super::view::{CardView, ListPage, Pager, PagerLink};
use crate::catalog::{Catalogue, ListKey};
use crate::error::AppError;
use crate::routes::layout::Layout;
use crate::routes::{PathText, QueryParams, page};
use crate::session::Visitor;
use crate::state::Site;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "category.html")]
struct CategoryPage {
    layout: Layout,
    name: String,
    cards: Vec<CardView>,
    total: usize,
    pager: Pager,
}

pub async fn show_category(
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
    State(site): State<Arc<Site>>,
    PathText(slug): PathText,
    params: QueryParams,
) -> Result<Response, AppError> {
    let (mut layout, lag) = Layout::for_visitor(&catalogue, &visitor).await?;
    let name = layout
        .categories
        .iter()
        .find(|c| c.slug == slug)
        .map(|c| c.name.clone())
        .ok_or(AppError::NotFound)?;
    layout.current_category = Some(slug.clone());
    let hats = catalogue.list(&ListKey::Category(name.clone())).await?;
    let base = format!("/categories/{slug}");
    let link = PagerLink {
        base: &base,
        extra: &[],
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
        &CategoryPage {
            layout,
            name,
            cards,
            total,
            pager,
        },
    )
}
