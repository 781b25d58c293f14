//! `GET /contact`: how to reach the shop.

use crate::catalog::Catalogue;
use crate::error::AppError;
use crate::routes::layout::Layout;
use crate::routes::page;
use crate::session::Visitor;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "info/contact.html")]
struct ContactPage {
    layout: Layout,
}

pub async fn show_contact(
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
) -> Result<Response, AppError> {
    let layout = super::layout(&catalogue, &visitor).await;
    page(StatusCode::OK, &ContactPage { layout })
}
