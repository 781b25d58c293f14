//! The legacy database side: connection options (TLS, the replica's limits) and the source's binlog
//! head. The bridge only ever reads here: replication grants + SELECT.

use crate::config::Source;
use anyhow::Context;
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, SslOpts};
use secrecy::ExposeSecret;

/// Where the source's binlog currently ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogHead {
    pub file: String,
    pub position: u64,
}

/// Connection options from settings: TLS verified against `tls_ca` when set.
pub fn connect_opts(source: &Source) -> anyhow::Result<Opts> {
    // The URL's text is never put in the error: it holds the password.
    let opts = Opts::from_url(source.url.expose_secret())
        .map_err(|_| anyhow::anyhow!("source.url is not a valid MySQL URL"))?;
    let mut builder = OptsBuilder::from_opts(opts).prefer_socket(false);
    if let Some(ca) = &source.tls_ca {
        anyhow::ensure!(ca.is_file(), "source.tls_ca: no such file {}", ca.display());
        builder = builder.ssl_opts(SslOpts::default().with_root_certs(vec![ca.clone().into()]));
    }
    Ok(builder.into())
}

/// Which server this is, as the checkpoint records it: `server_id=N version=V`, and on MySQL its
/// `server_uuid` (a fresh data directory gets a new one; MariaDB has none).
pub async fn server_identity(conn: &mut mysql_async::Conn) -> anyhow::Result<String> {
    let id: Option<(u32, String)> = conn
        .query_first("SELECT @@server_id, @@version")
        .await
        .context("reading the source's server id")?;
    let Some((id, version)) = id else {
        return Ok(String::new());
    };
    if is_mariadb(&version) {
        return Ok(format!("server_id={id} version={version}"));
    }
    let uuid: Option<String> = conn
        .query_first("SELECT @@server_uuid")
        .await
        .context("reading the source's server_uuid")?;
    Ok(format!(
        "server_id={id} version={version} server_uuid={}",
        uuid.unwrap_or_default()
    ))
}

/// Whether `@@version` is a MariaDB server's (MySQL's never says so).
pub fn is_mariadb(version: &str) -> bool {
    version.to_ascii_lowercase().contains("mariadb")
}

/// The source's binlog status row: `SHOW MASTER STATUS`, or `SHOW BINARY LOG STATUS` on MySQL 8.4,
/// which removed the old name. File, position, two filters, then (MySQL) `Executed_Gtid_Set`.
pub async fn binlog_status(conn: &mut mysql_async::Conn) -> anyhow::Result<mysql_async::Row> {
    const WHY: &str = "(is log_bin on, and does the user have REPLICATION CLIENT?)";
    let row: Option<mysql_async::Row> = match conn.query_first("SHOW MASTER STATUS").await {
        Err(mysql_async::Error::Server(e)) if e.code == 1064 => conn
            .query_first("SHOW BINARY LOG STATUS")
            .await
            .with_context(|| format!("SHOW BINARY LOG STATUS failed {WHY}"))?,
        other => other.with_context(|| format!("SHOW MASTER STATUS failed {WHY}"))?,
    };
    row.context("the legacy database has binary logging off (set log_bin)")
}

/// Reads the source's current binlog file and offset.
pub async fn binlog_head(opts: &Opts) -> anyhow::Result<BinlogHead> {
    let mut conn = mysql_async::Conn::new(opts.clone())
        .await
        .context("cannot connect to the legacy database")?;
    let row = binlog_status(&mut conn).await;
    conn.disconnect().await.ok();
    head_of(&row?)
}

/// File and offset of a binlog status row, by position with checked conversions (a tuple
/// conversion would panic on the column count, which differs between servers).
pub fn head_of(row: &mysql_async::Row) -> anyhow::Result<BinlogHead> {
    let file = row.get_opt::<String, _>(0).and_then(Result::ok);
    let position = row.get_opt::<u64, _>(1).and_then(Result::ok);
    match (file, position) {
        (Some(file), Some(position)) => Ok(BinlogHead { file, position }),
        _ => anyhow::bail!("the source's binlog status has an unexpected row"),
    }
}

pub mod binlog;
pub mod checks;
pub mod gtid;
pub mod rows;
pub mod snapshot;
pub mod values;

/// A place in the source's binlog: file and offset, and the GTID state there when known (MariaDB:
/// `domain-server-seq`, comma-separated per domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub file: String,
    pub pos: u64,
    pub gtid: Option<String>,
}

impl Position {
    /// The label used in the change log, quarantine reasons and notifications: the GTID when there
    /// is one, `file:pos` otherwise.
    pub fn label(&self) -> String {
        self.gtid
            .clone()
            .unwrap_or_else(|| format!("{}:{}", self.file, self.pos))
    }

    /// Whether this position is at or past `head` (binlog file names sort by their number).
    pub fn reached(&self, head: &BinlogHead) -> bool {
        (self.file.as_str(), self.pos) >= (head.file.as_str(), head.position)
    }
}

/// The file name a ROTATE event carries. The first (fake) ROTATE of a stream arrives before the
/// format description, so the parser does not yet know the events end with a CRC32 and leaves its 4
/// bytes on the name: those are cut by count, never by guessing which bytes look like digits (a CRC
/// byte can be an ASCII digit).
pub fn rotate_file_name(raw: &[u8], before_format_description: bool, checksummed: bool) -> String {
    let name = if before_format_description && checksummed && raw.len() > 4 {
        &raw[..raw.len() - 4]
    } else {
        raw
    };
    String::from_utf8_lossy(name).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_names_lose_their_crc_bytes() {
        assert_eq!(
            rotate_file_name(b"binlog.000002B\xfe\x01\x9a", true, true),
            "binlog.000002"
        );
        // A CRC that starts with an ASCII digit ('7') must not become part of the number.
        assert_eq!(
            rotate_file_name(b"binlog.0000017\x00\x12\x34", true, true),
            "binlog.000001"
        );
        assert_eq!(
            rotate_file_name(b"mysql-bin.000011", false, true),
            "mysql-bin.000011"
        );
        assert_eq!(
            rotate_file_name(b"mysql-bin.000011", true, false),
            "mysql-bin.000011"
        );
    }

    #[test]
    fn positions_compare_by_file_then_offset() {
        let at = |file: &str, pos| Position {
            file: file.into(),
            pos,
            gtid: None,
        };
        let head = BinlogHead {
            file: "binlog.000002".into(),
            position: 100,
        };
        assert!(at("binlog.000002", 100).reached(&head));
        assert!(at("binlog.000003", 4).reached(&head));
        assert!(!at("binlog.000002", 99).reached(&head));
        assert!(!at("binlog.000001", 900).reached(&head));
    }
}
