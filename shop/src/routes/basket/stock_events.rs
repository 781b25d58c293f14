//! `GET /basket/stock/events`: a Server-Sent Events stream of the visitor's basket lines' stock
//! flags ("Only N available now", "No longer available") and the lag guard's banner, so an open
//! basket page follows the legacy stock like a product page does. The first event is the current
//! state; then one whenever a notification names a hat in the basket, whenever anything may have
//! changed, and on a 5 s recheck when the flags differ. Reads the replica uncached, per basket.
//! Same caps, keep-alive and shutdown as the product streams (`live::stream`). No session or
//! basket: 404.

use super::show::LineView;
use crate::catalog::Catalogue;
use crate::client_addr::ClientAddr;
use crate::db::basket;
use crate::domain::stock::Lag;
use crate::error::AppError;
use crate::live::Live;
use crate::live::stream::{self, Watched};
use crate::session::Visitor;
use axum::extract::State;
use axum::response::Response;
use contracts::ItemKey;
use sqlx::PgPool;
use std::sync::Arc;

/// What an open basket page is told.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BasketStock {
    /// (item key, flag text; empty when the line is fine).
    pub lines: Vec<(String, String)>,
    pub refreshing: bool,
}

pub async fn stream_basket_stock(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(live): State<Arc<Live>>,
    visitor: Visitor,
    ClientAddr(client): ClientAddr,
) -> Result<Response, AppError> {
    let basket_id = visitor.basket_id().ok_or(AppError::NotFound)?;
    let permit = live.caps.try_open(client)?;
    Ok(stream::respond(
        &live,
        BasketLines {
            basket_id,
            db,
            catalogue,
        },
        permit,
    ))
}

/// The flags of one basket's lines.
struct BasketLines {
    basket_id: i64,
    db: PgPool,
    catalogue: Arc<Catalogue>,
}

impl Watched for BasketLines {
    type State = BasketStock;
    const EVENT: &'static str = "basket";

    async fn read(&self) -> anyhow::Result<BasketStock> {
        let rows = basket::lines(&self.db, self.basket_id).await?;
        let lag = self.catalogue.lag().await?;
        Ok(BasketStock {
            lines: rows
                .into_iter()
                .map(|row| {
                    let (view, _) = LineView::new(row);
                    let flag = view.flag();
                    (view.item_key, flag)
                })
                .collect(),
            refreshing: lag == Lag::Hard,
        })
    }

    /// A hat in the basket (as last sent; before the first event, any hat).
    fn concerns(&self, keys: &[ItemKey], last: Option<&BasketStock>) -> bool {
        last.is_none_or(|l| {
            l.lines
                .iter()
                .any(|(k, _)| keys.iter().any(|c| c.as_str() == k))
        })
    }
}
