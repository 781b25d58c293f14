//! `GET /`: the home page, every hat for sale by name, a page at a time (`?page=`, clamped).

use super::view::{CardView, ListPage, Pager, PagerLink};
use crate::catalog::{Catalogue, ListKey};
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
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    cards: Vec<CardView>,
    total: usize,
    pager: Pager,
}

pub async fn show_home(
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
    State(site): State<Arc<Site>>,
    params: QueryParams,
) -> Result<Response, AppError> {
    let (layout, lag) = Layout::for_visitor(&catalogue, &visitor).await?;
    let hats = catalogue.list(&ListKey::All).await?;
    let link = PagerLink {
        base: "/",
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
        &HomePage {
            layout,
            cards,
            total,
            pager,
        },
    )
}
