//! The initial snapshot on MariaDB: one consistent-snapshot transaction (no global read lock, no
//! table locks — RDS forbids the first and the legacy app must keep writing) and the exact binlog
//! position it corresponds to (`binlog_snapshot_file/position`, and its GTID). Rows are streamed,
//! mapped columns only (never a BLOB), and handed to the sink one by one.

use super::Position;
use super::values::Row;
use crate::mapping::{Change, Mapping, Role};
use anyhow::Context;
use mysql_async::prelude::Queryable;
use tokio::sync::mpsc;

/// Reads the mapped tables of `roles` in one consistent snapshot and sends each converted change
/// to `out` (lookups first, then items, then levels; the bounded channel paces the reads). Returns
/// the snapshot's position.
pub async fn read(
    opts: &mysql_async::Opts,
    mapping: &Mapping,
    roles: &[Role],
    out: mpsc::Sender<Change>,
) -> anyhow::Result<Position> {
    let mut conn = mysql_async::Conn::new(opts.clone())
        .await
        .context("snapshot: connect")?;
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await?;
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
    let position = Position {
        file,
        pos,
        gtid: gtid.flatten().filter(|g| !g.is_empty()),
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
        if role == Role::Items
            && let Some(image) = &mapping.items.image
        {
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
        while let Some(row) = result.next().await? {
            let names = row.columns();
            let values = row.unwrap();
            let row = Row::from_pairs(names.iter().map(|c| c.name_str().into_owned()).zip(values));
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
    conn.query_drop("COMMIT").await?;
    conn.disconnect().await.ok();
    Ok(position)
}
