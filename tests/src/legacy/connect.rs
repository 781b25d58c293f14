//! Connection options for the legacy MariaDB: a `mysql://` URL plus, optionally, the CA that signed
//! the server's certificate (the local stack's `LEGACY_MYSQL_CA`). Builds options only; it opens
//! nothing.

use std::path::Path;

use anyhow::Context;
use mysql_async::{Opts, OptsBuilder, SslOpts};

/// Options from `url`; with `ca`, TLS is required and the server's certificate must chain to it.
pub fn opts(url: &str, ca: Option<&Path>) -> anyhow::Result<Opts> {
    let opts = Opts::from_url(url).context("the MariaDB URL is not a valid mysql:// URL")?;
    let Some(ca) = ca else { return Ok(opts) };
    let ssl = SslOpts::default().with_root_certs(vec![ca.to_path_buf().into()]);
    Ok(OptsBuilder::from_opts(opts).ssl_opts(ssl).into())
}
