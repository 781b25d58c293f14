//! `stock.source_tables`: each watched source table's state — `streaming`, `stopped` after a schema
//! change or a statement-logged change (with the reason and the source position), or
//! `snapshotting` (a `bridge snapshot --table` asked for it and the leader has not switched it in
//! yet). A stop is written in the same transaction as the checkpoint that passes the event that
//! caused it, so a restart keeps the table stopped; the reader reads the states when a session
//! starts. The shop sees it through `stock.stock_available.sellable` (migration
//! `20261126000300_stopped_tables.sql`); this module never decides sellability itself.

use crate::mapping::Role;
use crate::source::Position;
use crate::source::binlog::{TableStates, TableStop};
use crate::source::gtid::GtidState;
use sqlx::{PgConnection, PgPool};

/// A table's state as the operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Streaming,
    Stopped,
    /// A snapshot of this table alone was asked for; until it is switched in, it counts as stale.
    Snapshotting,
}

impl State {
    fn parse(text: &str) -> Self {
        match text {
            "streaming" => Self::Streaming,
            "snapshotting" => Self::Snapshotting,
            _ => Self::Stopped,
        }
    }
}

/// One row of `stock.source_tables`.
#[derive(Debug, Clone)]
pub struct TableRow {
    pub table: String,
    pub role: Option<String>,
    pub state: State,
    pub reason: Option<String>,
    pub stopped_at: Option<String>,
    pub since: String,
    pub snapshot_at: Option<Position>,
}

/// Whether every item is stale while a table of this role is not streaming. Items, levels and
/// locations decide what is for sale; categories only name things and pictures only show them, so
/// items stay sellable (with category names or pictures that may be out of date).
pub const fn items_stale(role: Role) -> bool {
    !matches!(role, Role::Categories | Role::Pictures)
}

pub async fn load(db: impl sqlx::PgExecutor<'_>) -> anyhow::Result<Vec<TableRow>> {
    #[derive(sqlx::FromRow)]
    struct Raw {
        source_table: String,
        role: Option<String>,
        state: String,
        reason: Option<String>,
        stopped_at: Option<String>,
        since: String,
        snapshot_gtid: Option<String>,
        snapshot_file: Option<String>,
        snapshot_pos: Option<i64>,
    }
    let rows: Vec<Raw> = sqlx::query_as(
        "SELECT source_table, role, state::text AS state, reason, stopped_at,
                to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS since,
                snapshot_gtid, snapshot_file, snapshot_pos
         FROM stock.source_tables ORDER BY source_table",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TableRow {
            snapshot_at: match (r.snapshot_file, r.snapshot_pos) {
                (Some(file), Some(pos)) => Some(Position {
                    file,
                    pos: pos as u64,
                    gtid: r.snapshot_gtid,
                }),
                _ => None,
            },
            table: r.source_table,
            role: r.role,
            state: State::parse(&r.state),
            reason: r.reason,
            stopped_at: r.stopped_at,
            since: r.since,
        })
        .collect())
}

/// What a session's reader must know: which tables to skip, and which were loaded by a snapshot
/// of their own (and where).
pub fn reader_states(rows: &[TableRow]) -> TableStates {
    let mut states = TableStates::default();
    for row in rows {
        match row.state {
            State::Streaming => {
                if let Some(at) = &row.snapshot_at {
                    let gtids = GtidState::parse(at.gtid.as_deref());
                    states
                        .snapshotted_at
                        .insert(row.table.clone(), (at.clone(), gtids));
                }
            }
            State::Stopped | State::Snapshotting => {
                states.stopped.insert(row.table.clone());
            }
        }
    }
    states
}

/// Records tables stopped by the transactions at `(position label, stop)`, in the applier's
/// transaction (with the checkpoint).
pub async fn record_stops(
    tx: &mut PgConnection,
    stops: &[(&str, &TableStop)],
) -> anyhow::Result<()> {
    for (at, stop) in stops {
        stop_table(tx, &stop.table, stop.role, &stop.reason, at).await?;
        metrics::counter!("bridge_table_stops_total", "table" => stop.table.clone()).increment(1);
    }
    Ok(())
}

/// Marks one table stopped at source position `at`.
pub async fn stop_table(
    tx: &mut PgConnection,
    table: &str,
    role: Role,
    reason: &str,
    at: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO stock.source_tables (source_table, role, state, reason, stopped_at, items_stale, since)
         VALUES ($1, $2, 'stopped', $3, $4, $5, now())
         ON CONFLICT (source_table) DO UPDATE SET role = EXCLUDED.role, state = 'stopped',
             reason = EXCLUDED.reason, stopped_at = EXCLUDED.stopped_at,
             items_stale = EXCLUDED.items_stale, since = now(),
             snapshot_gtid = NULL, snapshot_file = NULL, snapshot_pos = NULL",
    )
    .bind(table)
    .bind(role.lookup_name())
    .bind(reason)
    .bind(at)
    .bind(items_stale(role))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks tables loaded by a snapshot as streaming again; `at`: the snapshot's position when the
/// stream starts before it (a table's own snapshot: the reader skips what that snapshot holds).
pub async fn mark_streaming(
    tx: &mut PgConnection,
    tables: &[(&str, Role)],
    at: Option<&Position>,
) -> anyhow::Result<()> {
    for (table, role) in tables {
        sqlx::query(
            "INSERT INTO stock.source_tables (source_table, role, state, items_stale, since,
                                              snapshot_gtid, snapshot_file, snapshot_pos)
             VALUES ($1, $2, 'streaming', $3, now(), $4, $5, $6)
             ON CONFLICT (source_table) DO UPDATE SET role = EXCLUDED.role, state = 'streaming',
                 reason = NULL, stopped_at = NULL, items_stale = EXCLUDED.items_stale, since = now(),
                 snapshot_gtid = EXCLUDED.snapshot_gtid, snapshot_file = EXCLUDED.snapshot_file,
                 snapshot_pos = EXCLUDED.snapshot_pos",
        )
        .bind(table)
        .bind(role.lookup_name())
        .bind(items_stale(*role))
        .bind(at.and_then(|a| a.gtid.as_deref()))
        .bind(at.map(|a| a.file.as_str()))
        .bind(at.map(|a| a.pos as i64))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Records mapped tables the replica streams but has no row for yet (a replica made before this
/// table was kept): from now on a schema change stops them instead of the bridge.
pub async fn adopt(tx: &mut PgConnection, tables: &[(&str, Role)]) -> anyhow::Result<()> {
    for (table, role) in tables {
        sqlx::query(
            "INSERT INTO stock.source_tables (source_table, role, state, items_stale, since)
             VALUES ($1, $2, 'streaming', $3, now()) ON CONFLICT (source_table) DO NOTHING",
        )
        .bind(table)
        .bind(role.lookup_name())
        .bind(items_stale(*role))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Forgets tables the mapping no longer names (a stopped table renamed in a new mapping must not
/// keep every item unsellable).
pub async fn forget_unmapped(tx: &mut PgConnection, mapped: &[&str]) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM stock.source_tables WHERE NOT (source_table = ANY($1))")
        .bind(mapped)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Asks the leader for a snapshot of this table alone (`bridge snapshot --table`, or the leader
/// itself after a TRUNCATE or RENAME swap), saying why. Returns the moment of the request
/// (PostgreSQL's clock), to tell its outcome from older states.
pub async fn request_snapshot(
    db: &PgPool,
    table: &str,
    role: Role,
    reason: &str,
) -> anyhow::Result<time::OffsetDateTime> {
    let since: time::OffsetDateTime = sqlx::query_scalar(
        "INSERT INTO stock.source_tables (source_table, role, state, reason, items_stale, since)
         VALUES ($1, $2, 'snapshotting', $4, $3, clock_timestamp())
         ON CONFLICT (source_table) DO UPDATE SET state = 'snapshotting', reason = EXCLUDED.reason,
             items_stale = EXCLUDED.items_stale, since = clock_timestamp()
         RETURNING since",
    )
    .bind(table)
    .bind(role.lookup_name())
    .bind(items_stale(role))
    .bind(reason)
    .fetch_one(db)
    .await?;
    // Its items count as stale until the leader switches the snapshot in: tell the shop now.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(contracts::stock::STOCK_CHANGED_CHANNEL)
        .bind(contracts::StockChanged::all().to_json())
        .execute(db)
        .await?;
    Ok(since)
}

/// The gauge `bridge_stopped_tables{table}`: 1 while a table is stopped or waiting for its
/// snapshot, 0 while it streams.
pub fn report(rows: &[TableRow]) {
    for row in rows {
        let stopped = if row.state == State::Streaming {
            0.0
        } else {
            1.0
        };
        metrics::gauge!("bridge_stopped_tables", "table" => row.table.clone()).set(stopped);
    }
}

/// `bridge status` lines for the tables that are not streaming.
pub fn describe(rows: &[TableRow]) -> Vec<String> {
    let not_streaming: Vec<&TableRow> = rows
        .iter()
        .filter(|r| r.state != State::Streaming)
        .collect();
    let mut lines = vec![format!("stopped tables: {}", not_streaming.len())];
    for row in not_streaming {
        let role = row.role.as_deref().unwrap_or("?");
        let effect = if role == Role::Categories.lookup_name() {
            "items stay sellable; their category names may be out of date"
        } else if role == Role::Pictures.lookup_name() {
            "items stay sellable; their pictures may be out of date"
        } else {
            "its items are not sellable (stale)"
        };
        match row.state {
            State::Snapshotting => lines.push(format!(
                "  {} ({role}): snapshot requested since {}, waiting for the leader; {effect}",
                row.table, row.since
            )),
            _ => {
                lines.push(format!(
                    "  {} ({role}): stopped at {} since {}: {}",
                    row.table,
                    row.stopped_at.as_deref().unwrap_or("-"),
                    row.since,
                    row.reason.as_deref().unwrap_or("-"),
                ));
                lines.push(format!(
                    "    {effect}; fix the mapping (or the source table), then run `bridge snapshot --table {}`",
                    row.table
                ));
            }
        }
    }
    lines
}
