//! The legacy MariaDB as the bridge will see it.
