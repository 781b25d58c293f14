//! `GET /healthz`: 200 when the process serves and its database answers, 503 otherwise, with a
//! small JSON body saying which part failed (no secrets, no addresses).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sqlx::PgPool;
use std::time::Duration;

pub async fn show_health(State(db): State<PgPool>) -> (StatusCode, Json<serde_json::Value>) {
    let ping =
        tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(&db)).await;
    let database_ok = matches!(ping, Ok(Ok(_)));
    metrics::gauge!("shop_database_up").set(if database_ok { 1.0 } else { 0.0 });
    let status = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            serde_json::json!({ "status": if database_ok { "ok" } else { "degraded" }, "database": database_ok }),
        ),
    )
}
