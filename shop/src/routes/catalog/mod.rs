//! Catalogue pages: what customers browse. Reads schema `stock` (the bridge's replica) only,
//! through [`crate::catalog::Catalogue`] (cached, invalidated by `NOTIFY stock_changed`).

pub mod category;
pub mod home;
pub mod product;
pub mod search;
pub mod stock_events;
pub mod view;
