//! The contract between the bridge, the shop and the partner fakes: plain types, parse constructors
//! and the wire formats (the `stock_changed` notification, settings files). Nothing here does I/O or
//! depends on a runtime, a database driver or a web framework, so every crate can use it and every
//! rule here is tested as pure logic.
//!
//! See `docs/ARCHITECTURE.md` for how the types map onto the tables of the first migration.

pub mod money;
pub mod settings;
pub mod sku;
pub mod stock;

pub use money::{Currency, Money, MoneyError, Rounding};
pub use sku::{Sku, SkuError};
pub use stock::{ImageStatus, ItemKey, StockChanged};
