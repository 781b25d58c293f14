//! The binlog reader: registers as a replica from a checkpointed position, turns row events of the
//! mapped tables into [`Change`]s, and hands over whole source transactions through a bounded
//! channel, so a slow or absent PostgreSQL pauses reading instead of filling memory. A transaction
//! with more than [`PART_CHANGES`] changes goes over in parts, at most [`PARTS_IN_FLIGHT`] unapplied
//! at a time, which the applier holds in one open PostgreSQL transaction until the last part.
//! Positions and GTIDs travel with every transaction; errors name the position.

use super::gtid::GtidState;
use super::rows::Layout;
use super::{Position, rotate_file_name};
use crate::config::{Flavour, ResumeMode};
use crate::mapping::{Change, Mapping, Role};
use anyhow::Context;
use futures::StreamExt;
use mysql_async::BinlogStreamRequest;
use mysql_async::binlog::BinlogChecksumAlg;
use mysql_async::binlog::events::{EventData, OptionalMetadataField, RowsEventData, TableMapEvent};
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// MariaDB's GTID event (not parsed by mysql_common).
const MARIADB_GTID_EVENT: u8 = 162;
/// A GTID event flag: the group is a single statement with no COMMIT/XID (DDL).
const FL_STANDALONE: u8 = 1;

/// The source asks for a heartbeat this often when idle; no event for [`READ_TIMEOUT`] means the
/// connection is dead.
const HEARTBEAT: Duration = Duration::from_secs(1);
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A source transaction with more changes than this goes to the applier in parts of this size.
pub const PART_CHANGES: usize = 4096;
/// Parts handed over but not yet applied: what a transaction of any size costs in memory.
const PARTS_IN_FLIGHT: usize = 2;

/// What the reader hands to the applier.
#[derive(Debug)]
pub enum Item {
    /// The first changes of a source transaction still open, too many to hold: the applier
    /// applies them in a PostgreSQL transaction it keeps open until the transaction's own
    /// [`Item::Transaction`] (the rest of it) commits it. Holding the part holds one of the
    /// reader's few in-flight permits; applying it lets the reader go on.
    Part(Part),
    /// A whole committed source transaction (possibly with no mapped changes).
    Transaction(SourceTransaction),
    /// The reader advanced outside any transaction (rotation, heartbeat, a source transaction
    /// that ended in ROLLBACK): the checkpoint may move.
    Progress(Position),
}

impl Item {
    /// The row changes it carries.
    pub fn rows(&self) -> usize {
        match self {
            Self::Part(part) => part.changes.len(),
            Self::Transaction(txn) => txn.changes.len(),
            Self::Progress(_) => 0,
        }
    }
}

#[derive(Debug)]
pub struct Part {
    /// Where the part was cut: the transaction's GTID when the source has them, else the
    /// position after the part's last rows event (a change's `changed_at`).
    pub label: String,
    pub changes: Vec<Change>,
    pub permit: tokio::sync::OwnedSemaphorePermit,
}

#[derive(Debug)]
pub struct SourceTransaction {
    /// The transaction's own GTID, when the source has them.
    pub gtid: Option<String>,
    /// Where the transaction ends (after its XID/COMMIT), with the GTID state there.
    pub end: Position,
    pub changes: Vec<Change>,
    /// Mapped tables this transaction stopped (a schema change, a statement-logged change): the
    /// applier records them with the checkpoint that passes it.
    pub stops: Vec<TableStop>,
}

/// A mapped table the reader stopped following, and why. Its later row events are skipped (the
/// checkpoint goes on) until `bridge snapshot --table` loads it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStop {
    pub table: String,
    pub role: Role,
    pub reason: String,
}

/// What a session's reader knows of the mapped tables when it starts (from `stock.source_tables`).
#[derive(Debug, Default, Clone)]
pub struct TableStates {
    /// Stopped tables: their row events are skipped.
    pub stopped: HashSet<String>,
    /// Tables loaded by a snapshot of their own at this position (and its GTID state, parsed
    /// once): the stream skips their transactions that snapshot already holds.
    pub snapshotted_at: HashMap<String, (Position, GtidState)>,
}

impl TableStates {
    /// Whether the change to `table` in the transaction `gtid` ending at `file:end` is already in
    /// the table's own snapshot.
    fn covered(&self, table: &str, gtid: Option<&str>, file: &str, end: u64) -> bool {
        let Some((snapshot, gtids)) = self.snapshotted_at.get(table) else {
            return false;
        };
        match (gtid, snapshot.gtid.is_some()) {
            (Some(gtid), true) => gtids.contains(gtid),
            _ => (file, end) <= (snapshot.file.as_str(), snapshot.pos),
        }
    }
}

struct Open {
    gtid: Option<String>,
    standalone: bool,
    changes: Vec<Change>,
    stops: Vec<TableStop>,
}

impl Open {
    const fn new(gtid: Option<String>, standalone: bool) -> Self {
        Self {
            gtid,
            standalone,
            changes: Vec::new(),
            stops: Vec::new(),
        }
    }
}

/// Where a session's reader starts and what it knows.
pub struct ReadFrom {
    pub position: Position,
    pub mode: ResumeMode,
    pub flavour: Flavour,
    pub tables: TableStates,
}

/// Reads from `from` until `stop` or an error; sends items to `tx`.
pub async fn read(
    opts: &mysql_async::Opts,
    server_id: u32,
    mapping: Arc<Mapping>,
    from: ReadFrom,
    tx: mpsc::Sender<Item>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let ReadFrom {
        position: from,
        mode,
        flavour,
        tables: mut states,
    } = from;
    let parts = Arc::new(tokio::sync::Semaphore::new(PARTS_IN_FLIGHT));
    let opts = mysql_async::OptsBuilder::from_opts(opts.clone())
        // A row with a large picture is one large event: lift the packet limit on this connection.
        .max_allowed_packet(Some(1 << 30));
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .context("binlog: connect")?;
    // Heartbeats when idle (MySQL 8.0.26+ reads the `source_` name, older servers the other), and
    // on MySQL the checksum announced under its 8.4 name too (mysql_async sets only the old one).
    for variable in ["master_heartbeat_period", "source_heartbeat_period"] {
        conn.query_drop(format!("SET @{variable} = {}", HEARTBEAT.as_nanos()))
            .await?;
    }
    // By GTID, the source finds the position itself (on this server or on a promoted replica);
    // offsets are then only trusted once a whole transaction has been read.
    let by_gtid = mode == ResumeMode::Gtid && from.gtid.is_some();
    let request = BinlogStreamRequest::new(server_id);
    let request = match flavour {
        Flavour::Mariadb => {
            // MariaDB's GTID events instead of dummy BEGINs.
            conn.query_drop("SET @mariadb_slave_capability = 4").await?;
            if by_gtid {
                conn.exec_drop(
                    "SET @slave_connect_state = ?",
                    (from.gtid.as_deref().unwrap_or_default(),),
                )
                .await?;
                conn.query_drop("SET @slave_gtid_strict_mode = 0").await?;
                conn.query_drop("SET @slave_gtid_ignore_duplicates = 0")
                    .await?;
                request
            } else {
                at_position(request, &from)
            }
        }
        Flavour::Mysql8 => {
            conn.query_drop("SET @source_binlog_checksum = 'ALL'")
                .await?;
            if by_gtid {
                // MySQL sends every transaction not in the set, from the first binlog holding one.
                let sids = GtidState::parse(from.gtid.as_deref()).request_sids()?;
                request.with_gtid().with_gtid_set(sids)
            } else {
                at_position(request, &from)
            }
        }
    };
    let mut offsets_trusted = !by_gtid;
    // Whether events end with a CRC32 (the first ROTATE's name then carries its 4 bytes).
    let checksum: Option<String> = conn.query_first("SELECT @@global.binlog_checksum").await?;
    let checksummed = checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
    let mut seen_format_description = false;
    let latin1 = latin1_columns(&mut conn, &mapping.source.schema).await?;
    let mut stream = conn
        .get_binlog_stream(request)
        .await
        .with_context(|| format!("binlog: start at {}", from.label()))?;
    tracing::info!(from = %from.label(), "binlog stream started");

    let mut file = from.file.clone();
    let mut gtid_state = GtidState::parse(from.gtid.as_deref());
    // Each mapped table map's row layout (None: its rows are passed over).
    let mut columns: HashMap<u64, Option<Arc<Layout>>> = HashMap::new();
    // The layout worked out from each table id's last table map. MariaDB sends a table map before
    // every transaction's rows, nearly always the same bytes: the names, the mapping's check and
    // the layout are then taken from here, not worked out again (a tenth of the bridge's CPU in a
    // catch-up). A table map that differs in any byte (a changed table) is worked out afresh.
    let mut layouts: HashMap<u64, (TableMapEvent<'static>, Arc<Layout>)> = HashMap::new();
    let mut open: Option<Open> = None;
    let mut last_progress = from.pos;
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            next = tokio::time::timeout(READ_TIMEOUT, stream.next()) => next,
        };
        let event = match next {
            Err(_) => anyhow::bail!(
                "binlog: no event or heartbeat for {READ_TIMEOUT:?} after {file}:{last_progress}"
            ),
            Ok(None) => {
                anyhow::bail!("binlog: the source closed the stream after {file}:{last_progress}")
            }
            Ok(Some(event)) => {
                event.with_context(|| format!("binlog: read after {file}:{last_progress}"))?
            }
        };
        let header = event.header();
        let end = u64::from(header.log_pos());
        let at = || format!("{file}:{end}");
        // mysql_async keeps each event's CRC32 but does not check it: a corrupted event must never
        // be applied. The session ends and reads again from the checkpoint.
        if let (Some(stored), Ok(Some(alg))) = (event.checksum(), event.footer().get_checksum_alg())
            && alg == BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32
            && u32::from_le_bytes(stored) != event.calc_checksum(alg)
        {
            metrics::counter!("bridge_errors_total", "kind" => "crc").increment(1);
            anyhow::bail!("binlog: CRC32 mismatch in the event ending at {}", at());
        }

        if event.header().event_type_raw() == MARIADB_GTID_EVENT {
            let data = event.data();
            anyhow::ensure!(data.len() >= 13, "binlog: short GTID event at {}", at());
            let seq = u64::from_le_bytes(data[0..8].try_into().unwrap_or_default());
            let domain = u32::from_le_bytes(data[8..12].try_into().unwrap_or_default());
            let gtid = format!("{domain}-{}-{seq}", header.server_id());
            open = Some(Open::new(Some(gtid), data[12] & FL_STANDALONE != 0));
            continue;
        }
        let data = event
            .read_data()
            .with_context(|| format!("binlog: bad event at {}", at()))?;
        match data {
            Some(EventData::FormatDescriptionEvent(_)) => seen_format_description = true,
            // MySQL: a transaction's GTID (or, with gtid_mode off, an anonymous one) comes first;
            // a DDL is the single statement after it, with no BEGIN (one is "standalone" until a
            // BEGIN says otherwise).
            Some(EventData::GtidEvent(event)) => {
                let tag = event.tag().map(ToString::to_string);
                let gtid = super::gtid::mysql_gtid(event.sid(), tag.as_deref(), event.gno());
                open = Some(Open::new(Some(gtid), true));
                continue;
            }
            Some(EventData::AnonymousGtidEvent(_)) => {
                open = Some(Open::new(None, true));
                continue;
            }
            Some(EventData::RotateEvent(rotate)) => {
                let next =
                    rotate_file_name(rotate.name_raw(), !seen_format_description, checksummed);
                // The first (fake) rotate names the file we asked for: never a step back.
                if next != file {
                    file = next;
                    last_progress = rotate.position();
                    columns.clear();
                    layouts.clear();
                    if open.is_none() && offsets_trusted {
                        send_progress(&tx, &file, last_progress, &gtid_state);
                    }
                }
                continue;
            }
            Some(EventData::TableMapEvent(tme)) => {
                let role = mapping.role_of(&tme.database_name(), &tme.table_name());
                let table = tme.table_name().into_owned();
                let gtid = open.as_ref().and_then(|o| o.gtid.as_deref());
                let names = match role {
                    Some(_) if states.stopped.contains(&table) => None,
                    // Already in the table's own snapshot: its rows are skipped, and a layout it
                    // had before that snapshot says nothing about the mapping.
                    Some(_) if states.covered(&table, gtid, &file, end) => None,
                    Some(_)
                        if let Some((seen, layout)) = layouts.get(&tme.table_id())
                            && *seen == tme =>
                    {
                        Some(layout.clone())
                    }
                    Some(role) => {
                        let Some(names) = column_names(&tme) else {
                            anyhow::bail!(
                                "binlog: table map for {}.{} has no column names at {} (set binlog_row_metadata=FULL)",
                                tme.database_name(),
                                table,
                                at()
                            );
                        };
                        // Mapped columns are found by name: an added column is harmless; a
                        // missing one, or one whose type no longer converts, stops this table.
                        let typed: Vec<(String, Option<&str>)> = names
                            .iter()
                            .enumerate()
                            .map(|(i, name)| {
                                let sql_type = tme.get_column_type(i).ok().flatten();
                                (name.clone(), sql_type.map(sql_type_name))
                            })
                            .collect();
                        match mapping.misfit(role, &typed) {
                            None => {
                                let key = mapping.key_column(role);
                                let layout = Arc::new(
                                    Layout::of(&tme, names, key, latin1.get(table.as_str()))
                                        .with_context(|| {
                                            format!("binlog: table map for {table} at {}", at())
                                        })?,
                                );
                                layouts.insert(
                                    tme.table_id(),
                                    (tme.clone().into_owned(), layout.clone()),
                                );
                                Some(layout)
                            }
                            Some(reason) => {
                                let txn = open.get_or_insert_with(|| Open::new(None, false));
                                stop_table(&mut states, txn, &table, role, reason, &at());
                                None
                            }
                        }
                    }
                    None => None,
                };
                columns.insert(tme.table_id(), names);
            }
            Some(EventData::RowsEvent(rows)) => {
                let Some(Some(layout)) = columns.get(&rows.table_id()).cloned() else {
                    continue;
                };
                let tme = stream
                    .get_tme(rows.table_id())
                    .with_context(|| format!("binlog: rows without a table map at {}", at()))?;
                let role = mapping
                    .role_of(&tme.database_name(), &tme.table_name())
                    .with_context(|| format!("binlog: unmapped table at {}", at()))?;
                let txn = open.get_or_insert_with(|| Open::new(None, false));
                if states.covered(&tme.table_name(), txn.gtid.as_deref(), &file, end) {
                    // Already in the table's own snapshot (`bridge snapshot --table`).
                    continue;
                }
                for pair in layout.rows(&rows) {
                    let (before, after) =
                        pair.with_context(|| format!("binlog: bad row image at {}", at()))?;
                    let (before, after) = match rows {
                        RowsEventData::DeleteRowsEvent(_) | RowsEventData::DeleteRowsEventV1(_) => {
                            (before.or(after), None)
                        }
                        _ => (before, after),
                    };
                    txn.changes
                        .extend(mapping.convert(role, before.as_ref(), after.as_ref()));
                }
                if txn.changes.len() >= PART_CHANGES {
                    let permit = parts
                        .clone()
                        .acquire_owned()
                        .await
                        .context("binlog: part permits")?;
                    let part = Part {
                        label: txn.gtid.clone().unwrap_or_else(at),
                        changes: std::mem::take(&mut txn.changes),
                        permit,
                    };
                    hand_over(&tx, Item::Part(part)).await?;
                }
            }
            Some(EventData::XidEvent(_)) => {
                finish(&mut open, &mut gtid_state, &file, end, &tx).await?;
                offsets_trusted = true;
            }
            Some(EventData::QueryEvent(query)) => {
                let sql = query.query();
                let trimmed = sql.trim();
                // A row change logged as a statement (a session with binlog_format=STATEMENT or
                // MIXED) cannot be followed: stopping the table is the only way not to lose it
                // silently, and the other tables go on.
                if let Some(table) = statement_on_mapped_table(trimmed, &mapping)
                    && !states.stopped.contains(&table)
                    && let Some(role) = mapping.role_of_table(&table)
                {
                    let txn = open.get_or_insert_with(|| Open::new(None, false));
                    if !states.covered(&table, txn.gtid.as_deref(), &file, end) {
                        let reason = format!(
                            "a change was logged as a statement, not as rows (`{}`): set binlog_format=ROW for every session (RDS: parameter group binlog_format = ROW)",
                            first_words(trimmed)
                        );
                        stop_table(&mut states, txn, &table, role, reason, &at());
                    }
                }
                if trimmed.eq_ignore_ascii_case("BEGIN") {
                    open.get_or_insert_with(|| Open::new(None, false))
                        .standalone = false;
                } else if trimmed.eq_ignore_ascii_case("ROLLBACK") {
                    // A transaction that also wrote a non-transactional (MyISAM) table is logged
                    // whole and ends in ROLLBACK: none of its changes happened. Its position is
                    // passed (a progress the applier must see: it may hold parts of it open).
                    if let Some(txn) = open.take() {
                        if let Some(gtid) = &txn.gtid {
                            gtid_state.advance(gtid);
                        }
                        tracing::warn!(position = %at(), changes = txn.changes.len(), "a source transaction ended in ROLLBACK: none of its changes applied");
                        hand_over(&tx, Item::Progress(here(&file, end, &gtid_state))).await?;
                    }
                    offsets_trusted = true;
                } else if trimmed.eq_ignore_ascii_case("COMMIT")
                    || open.as_ref().is_some_and(|o| o.standalone)
                {
                    let ddl = !trimmed.eq_ignore_ascii_case("COMMIT");
                    if ddl {
                        tracing::info!(position = %at(), statement = %first_words(trimmed), "DDL on the source");
                    }
                    let gtid = open.as_ref().and_then(|o| o.gtid.clone());
                    finish(&mut open, &mut gtid_state, &file, end, &tx).await?;
                    offsets_trusted = true;
                    // A stopped table waits for its own snapshot anyway, and one whose own
                    // snapshot was taken after this statement already holds its outcome.
                    let tables: Vec<String> = if ddl {
                        replaces_mapped_tables(trimmed, &mapping)
                            .into_iter()
                            .filter(|t| {
                                !states.stopped.contains(t)
                                    && !states.covered(t, gtid.as_deref(), &file, end)
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    if !tables.is_empty() {
                        return Err(ResnapshotNeeded {
                            reason: format!(
                                "`{}` at {} replaced the rows of mapped table {}",
                                first_words(trimmed),
                                at(),
                                tables.join(", ")
                            ),
                            tables,
                        }
                        .into());
                    }
                }
            }
            _ => {}
        }
        // Only forward: the format description the server resends at the start of a stream
        // carries its original (earlier) offset, and the checkpoint must never move back to it.
        if end > last_progress {
            last_progress = end;
            if open.is_none() && offsets_trusted {
                send_progress(&tx, &file, end, &gtid_state);
            }
        }
    }
}

/// A dump request from `from`'s file and offset.
fn at_position<'a>(
    request: BinlogStreamRequest<'a>,
    from: &'a Position,
) -> BinlogStreamRequest<'a> {
    request
        .with_filename(from.file.as_bytes())
        .with_pos(from.pos)
}

/// Ends the open transaction at `end` and sends it (waiting while the applier is behind).
async fn finish(
    open: &mut Option<Open>,
    gtid_state: &mut GtidState,
    file: &str,
    end: u64,
    tx: &mpsc::Sender<Item>,
) -> anyhow::Result<()> {
    let Some(txn) = open.take() else {
        return Ok(());
    };
    if let Some(gtid) = &txn.gtid {
        gtid_state.advance(gtid);
    }
    let end = here(file, end, gtid_state);
    let item = Item::Transaction(SourceTransaction {
        gtid: txn.gtid,
        end,
        changes: txn.changes,
        stops: txn.stops,
    });
    hand_over(tx, item).await
}

/// Sends `item` to the applier, waiting while it is behind (the bounded channel).
async fn hand_over(tx: &mpsc::Sender<Item>, item: Item) -> anyhow::Result<()> {
    tx.send(item)
        .await
        .map_err(|_| anyhow::anyhow!("applier stopped"))
}

/// The stream's position at `pos` of `file`, with the GTID state there.
fn here(file: &str, pos: u64, gtid_state: &GtidState) -> Position {
    Position {
        file: file.to_owned(),
        pos,
        gtid: gtid_state.render(),
    }
}

/// Stops following `table` from this transaction on, loudly.
fn stop_table(
    states: &mut TableStates,
    txn: &mut Open,
    table: &str,
    role: Role,
    reason: String,
    at: &str,
) {
    tracing::error!(
        table,
        position = at,
        reason = %reason,
        fix = %format!("fix the mapping (or the source table), then run `bridge snapshot --table {table}`; until then its changes are skipped and its items are not sellable, and the other tables go on"),
        "mapped table stopped"
    );
    states.stopped.insert(table.to_owned());
    states.snapshotted_at.remove(table);
    txn.stops.push(TableStop {
        table: table.to_owned(),
        role,
        reason,
    });
}

/// A TABLE_MAP column type by the name information_schema gives it (for [`ColumnKind::accepts`]).
///
/// [`ColumnKind::accepts`]: crate::mapping::ColumnKind::accepts
fn sql_type_name(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::MYSQL_TYPE_TINY => "tinyint",
        ColumnType::MYSQL_TYPE_SHORT => "smallint",
        ColumnType::MYSQL_TYPE_INT24 => "mediumint",
        ColumnType::MYSQL_TYPE_LONG => "int",
        ColumnType::MYSQL_TYPE_LONGLONG => "bigint",
        ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL => "decimal",
        ColumnType::MYSQL_TYPE_FLOAT => "float",
        ColumnType::MYSQL_TYPE_DOUBLE => "double",
        ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => "date",
        ColumnType::MYSQL_TYPE_TIME | ColumnType::MYSQL_TYPE_TIME2 => "time",
        ColumnType::MYSQL_TYPE_DATETIME | ColumnType::MYSQL_TYPE_DATETIME2 => "datetime",
        ColumnType::MYSQL_TYPE_TIMESTAMP | ColumnType::MYSQL_TYPE_TIMESTAMP2 => "timestamp",
        ColumnType::MYSQL_TYPE_YEAR => "year",
        ColumnType::MYSQL_TYPE_BIT => "bit",
        ColumnType::MYSQL_TYPE_JSON => "json",
        ColumnType::MYSQL_TYPE_ENUM => "enum",
        ColumnType::MYSQL_TYPE_SET => "set",
        ColumnType::MYSQL_TYPE_GEOMETRY => "geometry",
        ColumnType::MYSQL_TYPE_TINY_BLOB
        | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
        | ColumnType::MYSQL_TYPE_LONG_BLOB
        | ColumnType::MYSQL_TYPE_BLOB => "blob",
        _ => "varchar",
    }
}

/// Progress outside transactions is advisory: dropped when the channel is full.
fn send_progress(tx: &mpsc::Sender<Item>, file: &str, pos: u64, gtid_state: &GtidState) {
    let _ = tx.try_send(Item::Progress(here(file, pos, gtid_state)));
}

fn column_names(tme: &mysql_async::binlog::events::TableMapEvent<'_>) -> Option<Arc<[String]>> {
    for field in tme.iter_optional_meta() {
        if let Ok(OptionalMetadataField::ColumnName(names)) = field {
            let names: Vec<String> = names
                .iter_names()
                .filter_map(Result::ok)
                .map(|n| n.name().into_owned())
                .collect();
            return Some(names.into());
        }
    }
    None
}

/// The `latin1` text columns of the legacy schema's tables, by table. Read once per session, so
/// a column changed to another character set is seen after the next reconnect.
async fn latin1_columns(
    conn: &mut mysql_async::Conn,
    schema: &str,
) -> anyhow::Result<HashMap<String, HashSet<String>>> {
    let rows: Vec<(String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = ? AND CHARACTER_SET_NAME = 'latin1'",
            (schema,),
        )
        .await
        .context("binlog: reading the character sets of the legacy columns")?;
    let mut by_table: HashMap<String, HashSet<String>> = HashMap::new();
    for (table, column) in rows {
        by_table.entry(table).or_default().insert(column);
    }
    Ok(by_table)
}

/// A statement after which the replica can no longer follow these tables row by row: the rows of
/// a mapped table were replaced wholesale (TRUNCATE), or the table under a mapped name changed
/// (RENAME, as online schema-change tools swap tables, DROP). Only a fresh snapshot of each puts
/// the replica right; the other tables stream on.
#[derive(Debug, thiserror::Error)]
#[error("fresh snapshot of {} needed: {reason}", tables.join(", "))]
pub struct ResnapshotNeeded {
    pub tables: Vec<String>,
    pub reason: String,
}

/// The mapped table a data-changing statement (logged as a statement, not as row events) writes to.
fn statement_on_mapped_table(sql: &str, mapping: &Mapping) -> Option<String> {
    let normal = sql.replace('`', "").to_ascii_lowercase();
    let first = normal.split_whitespace().next()?;
    if !matches!(first, "insert" | "update" | "delete" | "replace" | "load") {
        return None;
    }
    mapped_table_named(&normal, mapping)
}

/// The first mapped table named in a (lower-cased, unquoted) statement.
fn mapped_table_named(normal: &str, mapping: &Mapping) -> Option<String> {
    mapped_tables_named(normal, mapping).into_iter().next()
}

/// Every mapped table named in a (lower-cased, unquoted) statement, in the mapping's order.
fn mapped_tables_named(normal: &str, mapping: &Mapping) -> Vec<String> {
    let words: Vec<&str> = normal
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(')
        .filter(|w| !w.is_empty())
        .collect();
    mapping
        .roles()
        .into_iter()
        .filter_map(|role| mapping.table_of(role))
        .filter(|table| {
            let schema_qualified =
                format!("{}.{}", mapping.source.schema, table).to_ascii_lowercase();
            let lower = table.to_ascii_lowercase();
            words
                .iter()
                .any(|w| **w == lower || **w == schema_qualified)
        })
        .map(str::to_owned)
        .collect()
}

/// The mapped tables a DDL statement replaces (none for most DDL).
fn replaces_mapped_tables(sql: &str, mapping: &Mapping) -> Vec<String> {
    let normal = sql.replace('`', "").to_ascii_lowercase();
    let words: Vec<&str> = normal
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(')
        .filter(|w| !w.is_empty())
        .collect();
    let replacing = match words.as_slice() {
        ["truncate", ..] | ["rename", "table", ..] | ["drop", "table", ..] => true,
        // `ALTER TABLE t RENAME [TO|AS] u` moves the table; RENAME COLUMN/INDEX/KEY do not
        // (a renamed mapped column stops the table when its next row event lacks the name).
        ["alter", "table", ..] => words
            .windows(2)
            .any(|w| w[0] == "rename" && !matches!(w[1], "column" | "index" | "key")),
        _ => false,
    };
    if !replacing {
        return Vec::new();
    }
    mapped_tables_named(&normal, mapping)
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(4).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_replace_mapped_tables_are_recognised() {
        let mapping: Mapping = contracts::settings::parse(
            "demo",
            Some(include_str!("../../mappings/demo.toml")),
            std::iter::empty(),
            "",
        )
        .unwrap();
        let hit = |sql: &str| replaces_mapped_tables(sql, &mapping).join(",");
        assert_eq!(hit("TRUNCATE TABLE `stock_levels`"), "stock_levels");
        assert_eq!(hit("truncate legacy.items"), "items");
        assert_eq!(
            hit(
                "RENAME TABLE stock_levels TO _stock_levels_old, _stock_levels_new TO stock_levels"
            ),
            "stock_levels"
        );
        assert_eq!(
            hit("DROP TABLE IF EXISTS `legacy`.`locations`"),
            "locations"
        );
        assert_eq!(hit("ALTER TABLE items RENAME TO items_old"), "items");
        assert_eq!(
            hit("ALTER TABLE items ADD COLUMN colour VARCHAR(20)"),
            "",
            "an added column is harmless"
        );
        assert_eq!(
            hit("ALTER TABLE items RENAME COLUMN name TO title"),
            "",
            "a renamed column is found by the next row event, not by a fresh snapshot"
        );
        assert_eq!(hit("TRUNCATE TABLE app_settings"), "");
        assert_eq!(hit("CREATE TABLE test_scratch_1 (id INT)"), "");
        assert_eq!(
            hit("DROP TABLE stock_levels, items"),
            "items,stock_levels",
            "every mapped table a statement replaces, in the mapping's order"
        );
        let dml = |sql: &str| statement_on_mapped_table(sql, &mapping);
        assert_eq!(
            dml("UPDATE `stock_levels` SET quantity = 3 WHERE id = 7").as_deref(),
            Some("stock_levels")
        );
        assert_eq!(
            dml("insert into legacy.items (id) values (1)").as_deref(),
            Some("items")
        );
        assert_eq!(dml("UPDATE app_settings SET value = 'x'"), None);
        assert_eq!(dml("BEGIN"), None);
    }
}
