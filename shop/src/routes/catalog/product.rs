//! `GET /hats/{item_key}`: one hat, with its price and honest stock words. A tombstoned hat says it
//! is no longer available (410); one that exists but cannot be sold says it is currently
//! unavailable. With JavaScript the stock line updates itself (`stock_events`); without, a reload
//! shows the same.

use super::view::{PictureView, product_href};
use crate::catalog::Catalogue;
use crate::db::catalog::Product;
use crate::domain::stock::Lag;
use crate::error::AppError;
use crate::routes::layout::Layout;
use crate::routes::{PathText, page};
use crate::session::Visitor;
use crate::state::Site;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// The stock line of a product page, as rendered and as pushed to open pages.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StockView {
    pub text: String,
    /// `in`, `low`, `out`, `unavailable`.
    pub level: &'static str,
    /// Past the lag guard's hard limit: the banner shows.
    pub refreshing: bool,
}

impl StockView {
    pub fn new(catalogue: &Catalogue, product: Option<&Product>, lag: Lag) -> Self {
        let refreshing = lag == Lag::Hard;
        match product {
            Some(p) if p.sellable => {
                let wording = catalogue.wording(p.available, lag);
                Self {
                    text: wording.text(),
                    level: wording.level(),
                    refreshing,
                }
            }
            Some(p) if !p.deleted => Self {
                text: "Currently unavailable".to_owned(),
                level: "unavailable",
                refreshing,
            },
            _ => Self {
                text: "No longer available".to_owned(),
                level: "unavailable",
                refreshing,
            },
        }
    }
}

enum Offer {
    ForSale {
        price: String,
        includes_vat: bool,
        stock: StockView,
        events: String,
    },
    Unavailable,
    Gone,
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    layout: Layout,
    name: String,
    description: Option<String>,
    category: Option<(String, String)>,
    picture: PictureView,
    offer: Offer,
    item_key: String,
    /// Units to sell: the add form shows (none when out of stock).
    in_stock: bool,
    /// Past the lag guard's hard limit: the add form is disabled (and adding is refused).
    refreshing: bool,
    max_line: i32,
}

pub async fn show_product(
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    visitor: Visitor,
    PathText(item_key): PathText,
) -> Result<Response, AppError> {
    let product = catalogue.product(&item_key).await?;
    let product = product.as_ref().as_ref().ok_or(AppError::NotFound)?;
    let (mut layout, lag) = Layout::for_visitor(&catalogue, &visitor).await?;
    let category = product.category.as_ref().and_then(|name| {
        layout
            .categories
            .iter()
            .find(|c| &c.name == name)
            .map(|c| (c.name.clone(), c.slug.clone()))
    });
    layout.current_category = category.as_ref().map(|(_, slug)| slug.clone());
    let (status, offer) = if product.deleted {
        (StatusCode::GONE, Offer::Gone)
    } else if let (true, Some(price)) = (product.sellable, product.price) {
        (
            StatusCode::OK,
            Offer::ForSale {
                price: price.to_string(),
                includes_vat: product.price_includes_vat,
                stock: StockView::new(&catalogue, Some(product), lag),
                events: format!("{}/stock/events", product_href(&product.item_key)),
            },
        )
    } else {
        (StatusCode::OK, Offer::Unavailable)
    };
    page(
        status,
        &ProductPage {
            item_key: product.item_key.clone(),
            in_stock: product.available > 0,
            refreshing: lag == Lag::Hard,
            max_line: site.basket.max_line_quantity,
            layout,
            name: product.name.clone(),
            description: product.description.clone().filter(|d| !d.trim().is_empty()),
            category,
            picture: PictureView::new(
                product.picture.as_ref(),
                &product.name,
                &site.media_base_url,
                "(max-width: 48rem) 100vw, 28rem",
            ),
            offer,
        },
    )
}
