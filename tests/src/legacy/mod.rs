//! The demo legacy stock database and the stock-staff simulator.
//!
//! The legacy app is a small company's PHP stock-management app on MySQL (MariaDB locally). This
//! module owns a faithful stand-in: its schema (`schema.sql`, with the traps the bridge and the shop
//! must handle marked), the seeded demo catalogue of funny hats ([`catalog`]) with generated
//! pictures ([`pictures`]), the loader behind `demo-load` ([`load`]) and the writer behind
//! `simulate` ([`simulate`]), which changes stock the way staff do. It must never be pointed at a
//! real shop's database: the loader drops tables.

pub mod catalog;
pub mod connect;
pub mod load;
pub mod pictures;
pub mod simulate;

/// The legacy app's schema: drops and creates every table of the app (not the database itself).
pub const SCHEMA_SQL: &str = include_str!("schema.sql");
