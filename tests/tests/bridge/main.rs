//! Bridge tests against the real local stack: each test runs its own bridge (own server id) into
//! its own fresh shop database, reading the stack's legacy MariaDB, and asserts what the shop would
//! read from schema `stock`.

mod checks;
mod ha;
mod images;
mod large_transactions;
mod outages;
mod picture_table;
mod pictures;
mod replication;
mod resume;
mod schema_changes;
mod support;
mod verify;
