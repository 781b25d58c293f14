//! `GET /hats/{item_key}/stock/events`: a Server-Sent Events stream of one hat's stock line. The
//! first event is the current state; then an event whenever a `stock_changed` notification names
//! the hat, whenever anything may have changed (`{"all":true}`, the shared listener lost or regained
//! its connection) and whenever the lag guard's verdict changes the words. A keep-alive comment
//! goes out every `live.keep_alive_secs` (`live::stream`). Streams are capped in total (503) and
//! per client address (429), and end at shutdown.

use super::product::StockView;
use crate::catalog::Catalogue;
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::live::Live;
use crate::live::stream::{self, Watched};
use crate::routes::PathText;
use axum::extract::State;
use axum::response::Response;
use contracts::ItemKey;
use std::sync::Arc;

pub async fn stream_stock(
    State(catalogue): State<Arc<Catalogue>>,
    State(live): State<Arc<Live>>,
    ClientAddr(client): ClientAddr,
    PathText(item_key): PathText,
) -> Result<Response, AppError> {
    if catalogue.product(&item_key).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let permit = live.caps.try_open(client)?;
    Ok(stream::respond(
        &live,
        HatStock {
            item_key,
            catalogue,
        },
        permit,
    ))
}

/// One hat's stock line.
struct HatStock {
    item_key: String,
    catalogue: Arc<Catalogue>,
}

impl Watched for HatStock {
    type State = StockView;
    const EVENT: &'static str = "stock";

    async fn read(&self) -> anyhow::Result<StockView> {
        let product = self.catalogue.product(&self.item_key).await?;
        let lag = self.catalogue.lag().await?;
        Ok(StockView::new(
            &self.catalogue,
            product.as_ref().as_ref(),
            lag,
        ))
    }

    fn concerns(&self, keys: &[ItemKey], _last: Option<&StockView>) -> bool {
        keys.iter().any(|k| k.as_str() == self.item_key)
    }
}
