//! `GET /basket`: the visitor's basket as the replica stands now. Every line shows the current price
//! (flagged when it differs from the price when added), is checked against availability (flagged when
//! over it, never silently changed), and hats that were deleted or cannot be sold stay in the basket
//! marked unavailable. The total counts only lines that can be bought as they are.

use super::Notice;
use crate::catalog::Catalogue;
use crate::db::basket::{self, LineRow};
use crate::db::catalog::money;
use crate::error::AppError;
use crate::routes::catalog::view::product_href;
use crate::routes::layout::Layout;
use crate::routes::{QueryParams, page};
use crate::session::Visitor;
use crate::state::Site;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use contracts::Money;
use sqlx::PgPool;
use std::sync::Arc;

pub struct LineView {
    pub item_key: String,
    pub href: String,
    pub name: String,
    pub quantity: i32,
    /// The current unit price, when the hat can be sold.
    pub price: Option<String>,
    /// The unit price when added, when it differs from the current one.
    pub was: Option<String>,
    pub line_total: Option<String>,
    /// Units available now, when fewer than the line's quantity.
    pub only: Option<i32>,
    /// Deleted, unsellable or gone from the replica.
    pub unavailable: bool,
}

impl LineView {
    /// The line's stock flag, as shown on the page and pushed to open pages; empty when fine.
    pub fn flag(&self) -> String {
        if self.unavailable {
            "No longer available: remove it to continue.".to_owned()
        } else if self.only == Some(0) {
            "Out of stock now: please remove it to continue.".to_owned()
        } else if let Some(n) = self.only {
            format!("Only {n} available now: please lower the quantity.")
        } else {
            String::new()
        }
    }

    pub fn new(row: LineRow) -> (Self, Option<Money>) {
        let sellable = row.sellable == Some(true) && row.deleted != Some(true);
        let now = row
            .price_minor
            .zip(row.currency.as_deref())
            .and_then(|(m, c)| money(Some(m), c))
            .filter(|_| sellable);
        let added = row
            .price_minor_added
            .zip(row.currency_added.as_deref())
            .and_then(|(m, c)| money(Some(m), c));
        let available = row.available.unwrap_or(0);
        let only = (sellable && available < row.quantity).then_some(available);
        let total = now
            .filter(|_| only.is_none())
            .and_then(|p| p.minor.checked_mul(i64::from(row.quantity)))
            .zip(now)
            .map(|(minor, p)| Money::new(minor, p.currency));
        let view = Self {
            href: product_href(&row.item_key),
            name: row
                .name
                .unwrap_or_else(|| "A hat we no longer sell".to_owned()),
            quantity: row.quantity,
            price: now.map(|p| p.to_string()),
            was: added
                .filter(|a| now.is_some_and(|n| n != *a))
                .map(|a| a.to_string()),
            line_total: total.map(|t| t.to_string()),
            only,
            unavailable: now.is_none(),
            item_key: row.item_key,
        };
        (view, total)
    }
}

#[derive(Template)]
#[template(path = "basket.html")]
struct BasketPage {
    layout: Layout,
    lines: Vec<LineView>,
    total: Option<String>,
    notice: Option<(bool, String)>,
    csrf: String,
    max_line: i32,
    /// The live stream's URL, when there is a basket to watch.
    events: Option<&'static str>,
}

pub async fn show_basket(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(site): State<Arc<Site>>,
    visitor: Visitor,
    params: QueryParams,
) -> Result<Response, AppError> {
    let (layout, _) = Layout::for_visitor(&catalogue, &visitor).await?;
    let rows = match visitor.basket_id() {
        Some(id) => basket::lines(&db, id).await?,
        None => Vec::new(),
    };
    let mut lines = Vec::with_capacity(rows.len());
    let mut sum: Option<Money> = None;
    let mut mixed = false;
    for row in rows {
        let (view, total) = LineView::new(row);
        if let Some(t) = total {
            match sum {
                None => sum = Some(t),
                Some(s) if s.currency == t.currency => {
                    sum = Some(Money::new(s.minor.saturating_add(t.minor), s.currency));
                }
                Some(_) => mixed = true,
            }
        }
        lines.push(view);
    }
    let limits = &site.basket;
    let notice = params.get("notice").and_then(Notice::parse).map(|n| {
        (
            n.refused(),
            n.text(limits.max_line_quantity, limits.max_lines),
        )
    });
    page(
        StatusCode::OK,
        &BasketPage {
            layout,
            lines,
            total: sum.filter(|_| !mixed).map(|s| s.to_string()),
            notice,
            csrf: visitor.csrf_token().unwrap_or_default().to_owned(),
            max_line: limits.max_line_quantity,
            events: visitor.basket_id().map(|_| "/basket/stock/events"),
        },
    )
}
