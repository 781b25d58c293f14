//! `GET /privacy`: what the shop keeps about customers and why.

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
#[template(path = "info/privacy.html")]
struct PrivacyPage {
    layout: Layout,
}

pub async fn show_privacy(
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
) -> Result<Response, AppError> {
    let layout = super::layout(&catalogue, &visitor).await;
    page(StatusCode::OK, &PrivacyPage { layout })
}
