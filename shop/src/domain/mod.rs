//! The shop's own pure types: how stock is worded for customers, list paging, search terms. No I/O:
//! every rule here is tested beside the code.

pub mod account;
pub mod address;
pub mod paging;
pub mod search;
pub mod stock;
