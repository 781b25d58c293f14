//! Queries shared by more than one caller, one file per aggregate. Compile-time checked
//! (`sqlx::query!`), with the offline data in `shop/.sqlx/`.

pub mod basket;
pub mod catalog;
