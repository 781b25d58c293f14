//! The initial snapshot: one consistent-snapshot transaction (no global read lock, no table
//! locks — RDS forbids the first and the legacy app must keep writing), with the binlog position
//! the stream goes on from. Rows are streamed, mapped columns only (never a BLOB), and handed to the
//! sink one by one.
//!
//! - MariaDB tells the exact position of the snapshot (`binlog_snapshot_file/position`, and its
//!   GTID): the stream starts right after it.
//! - MySQL 8 has no such status (and RDS grants no `BACKUP_ADMIN` for `log_status`): the position
//!   is read *before* the snapshot starts, so the stream replays what the copy may already hold.
//!   Full-row upserts and deletes by key converge; until the stream has passed the head read after
//!   the copy, the replica counts as hard-stale (the caller clears `caught_up_at`, which is only
//!   set again once the stream reaches the source's head).

use super::Position;
use super::values::Row;
use crate::config::Flavour;
use crate::mapping::{Change, Mapping, Role};
use anyhow::Context;
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Where a snapshot stands in the binlog.
#[derive(Debug, Clone)]
pub struct Taken {
    /// Where the stream goes on from: everything after it is not in the copy (MariaDB: exactly
    /// the copy's position; MySQL: read before the copy, so some of what follows may be in it).
    pub from: Position,
    /// A replica that has passed this holds every change the copy holds (MariaDB: `from`).
    pub consistent_after: Position,
}

/// Reads the mapped tables of `roles` in one consistent snapshot and sends each converted change
/// to `out` (lookups first, then items, then levels; the bounded channel paces the reads).
pub async fn read(
    opts: &mysql_async::Opts,
    flavour: Flavour,
    mapping: &Mapping,
    roles: &[Role],
    out: mpsc::Sender<Change>,
) -> anyhow::Result<Taken> {
    let mut conn = mysql_async::Conn::new(opts.clone())
        .await
        .context("snapshot: connect")?;
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    let before = match flavour {
        Flavour::Mariadb => None,
        Flavour::Mysql8 => Some(mysql_position(&mut conn).await?),
    };
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await?;
    let position = match before {
        Some(before) => before,
        None => mariadb_snapshot_position(&mut conn).await?,
    };
    tracing::info!(position = %position.label(), "snapshot started");

    for role in mapping.roles().into_iter().filter(|r| roles.contains(r)) {
        let table = mapping.table_of(role).unwrap_or_default();
        let columns = mapping.columns_of(role);
        // Identifiers come from the validated mapping; backticks inside them are refused there.
        let mut list = columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        // The picture itself is never read in bulk: the source hashes it (images are fetched one at
        // a time by the image workers).
        if let Some(image) = mapping.image_of(role) {
            list.push_str(&format!(
                ", SHA2(`{image}`, 256) AS `{}`",
                crate::mapping::image_hash_column(image)
            ));
        }
        let sql = format!("SELECT {list} FROM `{}`.`{table}`", mapping.source.schema);
        let mut result = conn
            .query_iter(sql)
            .await
            .with_context(|| format!("snapshot of {table}"))?;
        let mut rows = 0u64;
        // The column names, once for the result: every row shares them.
        let mut names: Option<Arc<[String]>> = None;
        while let Some(row) = result.next().await? {
            let names = names
                .get_or_insert_with(|| {
                    row.columns_ref()
                        .iter()
                        .map(|c| c.name_str().into_owned())
                        .collect()
                })
                .clone();
            let row = Row::new(names, row.unwrap());
            for change in mapping.convert(role, None, Some(&row)) {
                out.send(change)
                    .await
                    .map_err(|_| anyhow::anyhow!("snapshot: the writer stopped"))?;
            }
            rows += 1;
        }
        drop(result);
        metrics::counter!("bridge_snapshot_rows_total", "table" => table.to_owned())
            .increment(rows);
        tracing::info!(
            table,
            rows,
            role = role.lookup_name(),
            "snapshot table copied"
        );
    }
    let consistent_after = match flavour {
        Flavour::Mariadb => position.clone(),
        Flavour::Mysql8 => {
            let after = mysql_position(&mut conn).await?;
            tracing::info!(from = %position.label(), consistent_after = %after.label(), "snapshot copied: the stream replays what was written meanwhile");
            after
        }
    };
    conn.query_drop("COMMIT").await?;
    conn.disconnect().await.ok();
    Ok(Taken {
        from: position,
        consistent_after,
    })
}

/// MariaDB: the exact binlog position of the open consistent snapshot, with its GTID state.
async fn mariadb_snapshot_position(conn: &mut mysql_async::Conn) -> anyhow::Result<Position> {
    let status = |name: &'static str| format!("SHOW STATUS LIKE '{name}'");
    let file: Option<(String, String)> = conn.query_first(status("binlog_snapshot_file")).await?;
    let pos: Option<(String, String)> =
        conn.query_first(status("binlog_snapshot_position")).await?;
    let (file, pos) = match (file, pos) {
        (Some((_, file)), Some((_, pos))) if !file.is_empty() => (
            file,
            pos.parse::<u64>().context("binlog_snapshot_position")?,
        ),
        _ => anyhow::bail!(
            "the source did not report binlog_snapshot_file/position (is log_bin on?)"
        ),
    };
    let gtid: Option<Option<String>> = conn
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&file, pos))
        .await?;
    Ok(Position {
        file,
        pos,
        gtid: gtid.flatten().filter(|g| !g.is_empty()),
    })
}

/// MySQL: the binlog head and the GTID set executed there, from one status row (so they agree).
async fn mysql_position(conn: &mut mysql_async::Conn) -> anyhow::Result<Position> {
    let row = super::binlog_status(conn).await?;
    let head = super::head_of(&row)?;
    let executed = row
        .get_opt::<String, _>(4)
        .and_then(Result::ok)
        .map(|set| set.replace(['\n', ' '], ""))
        .filter(|set| !set.is_empty());
    Ok(Position {
        file: head.file,
        pos: head.position,
        gtid: executed,
    })
}
