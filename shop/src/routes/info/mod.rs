//! The footer's information pages: contact, returns, privacy. Static text in templates; the frame
//! still shows the categories, and falls back to a bare frame when the database is unreachable, so
//! a customer can always find how to reach us.

pub mod contact;
pub mod privacy;
pub mod returns;

use crate::catalog::Catalogue;
use crate::routes::layout::Layout;
use crate::session::Visitor;
use sqlx::PgPool;

async fn layout(catalogue: &Catalogue, db: &PgPool, visitor: &Visitor) -> Layout {
    let loaded = match Layout::load(catalogue).await {
        Ok((mut layout, _)) => match layout.set_visitor(db, visitor).await {
            Ok(()) => Ok(layout),
            Err(e) => Err(anyhow::Error::from(e)),
        },
        Err(e) => Err(e),
    };
    match loaded {
        Ok(layout) => layout,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "information page without categories"
            );
            Layout::bare()
        }
    }
}
