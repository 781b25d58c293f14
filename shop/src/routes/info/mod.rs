//! The footer's information pages: contact, returns, privacy. Static text in templates; the frame
//! still shows the categories, and falls back to a bare frame when the database is unreachable, so
//! a customer can always find how to reach us.

pub mod contact;
pub mod privacy;
pub mod returns;

use crate::catalog::Catalogue;
use crate::routes::layout::Layout;
use crate::session::Visitor;

async fn layout(catalogue: &Catalogue, visitor: &Visitor) -> Layout {
    match Layout::for_visitor(catalogue, visitor).await {
        Ok((layout, _)) => layout,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "information page without categories"
            );
            Layout::bare()
        }
    }
}
