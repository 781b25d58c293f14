//! `GET /returns`: the returns policy.

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
#[template(path = "info/returns.html")]
struct ReturnsPage {
    layout: Layout,
}

pub async fn show_returns(
    State(catalogue): State<Arc<Catalogue>>,
    visitor: Visitor,
) -> Result<Response, AppError> {
    let layout = super::layout(&catalogue, &visitor).await;
    page(StatusCode::OK, &ReturnsPage { layout })
}
