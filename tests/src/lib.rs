//! Test support shared by the cross-component tests and the developer tools: handles on the local
//! stack's servers (read from the environment `deploy/local/test` exports), the demo legacy stock
//! database, and the stock-staff simulator. Fakes of partners with no packaged stand-in live here too.

pub mod bench;
pub mod browser;
pub mod cut_proxy;
pub mod legacy;
pub mod scratch_mariadb;
pub mod scratch_s3;
pub mod stack;
