//! Background jobs the shop process runs beside its listeners. Each is a tokio task that stops with
//! the shop's shutdown token and logs (never panics) when a run fails.

pub mod basket_cleanup;
