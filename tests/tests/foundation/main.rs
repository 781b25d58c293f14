//! Foundation tests against the real local stack: the legacy MariaDB and its grants, the PostgreSQL
//! roles, and the bridge and shop binaries (settings, health, metrics, shutdown).

mod database;
mod legacy;
mod peers;
mod services;
