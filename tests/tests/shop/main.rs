//! Shop tests against the real local stack: catalogue, search and paging, the cache and its
//! invalidation by `NOTIFY stock_changed`, live stock (SSE), the lag guard, sessions and CSRF, the
//! basket. Each test has its own
//! database, written as the bridge would write it, and its own shop process; it asserts what a
//! customer sees over HTTP.

mod account_methods;
mod accounts;
mod basket;
mod browser;
mod cache;
mod catalogue;
mod end_to_end;
mod lag;
mod live;
mod no_javascript;
mod oauth;
mod profile;
mod search;
mod sessions;
mod support;
