//! Replication: snapshot when there is no checkpoint, then stream from the checkpoint, with the
//! freshness probe beside it. A reader task and an applier task share a bounded channel; any error
//! ends both, and the session restarts (with backoff) from the last committed checkpoint, so
//! nothing in flight is applied twice or lost.

use crate::config::{Flavour, ResumeMode};
use crate::crash::{self, Point};
use crate::mapping::{Change, Mapping, Role};
use crate::sink::apply::{self, Target, Touched};
use crate::sink::lanes;
use crate::sink::tables::{self, State};
use crate::source::binlog::{self, Item, ReadFrom};
use crate::source::checks::{self, Resume};
use crate::source::{self, Position};
use anyhow::Context;
use contracts::StockChanged;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Snapshot rows written per statement.
const SNAPSHOT_CHUNK: usize = 2000;

/// Whole source transactions per PostgreSQL transaction, at most, and row changes: a batch ends at
/// whichever comes first. Only a backlog fills a batch (live, a batch is the one or two
/// transactions that arrived meanwhile); there, fewer and larger batches spread each commit, change
/// log statement and recompute over more rows, and an item changed twice in a batch is summed once
/// (docs/BENCHMARKS.md, "Bridge catch-up": 65,536 rows gained 23 % over 16,384, for 70–76 MiB of
/// peak RSS during a backlog instead of 35–37).
const MAX_BATCH: usize = 8192;
const MAX_BATCH_ROWS: usize = 65_536;
/// Transactions read ahead of the applier before reading pauses (one full batch: the next batch
/// is read while this one is applied).
const CHANNEL: usize = MAX_BATCH;
/// Connections a large batch is applied on at once, when it splits into sets of transactions that
/// share no item, level row or SKU (`sink::lanes`). One PostgreSQL backend executing the batch's
/// statements one after another was the catch-up's bottleneck (docs/BENCHMARKS.md, "Bridge
/// catch-up"); the shop's database instance has two vCPUs.
const LANES: usize = 2;
/// Row changes from which a batch is split into lanes: only a backlog fills a batch this far
/// (live, a batch is one or two transactions), and a small batch gains less than the second
/// commit costs.
const LANE_MIN_ROWS: usize = 2048;
const FRESHNESS_INTERVAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The open PostgreSQL transaction of a large source transaction, holding its first parts.
struct Opened {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    /// What the parts touched since the last recompute (each part is recomputed as it is applied,
    /// so this never holds more than a part's keys, plus the keys for the notification).
    touched: Touched,
    /// Row changes applied so far.
    rows: usize,
}

/// What the PostgreSQL transaction of a batch applied whole starts from.
enum Start {
    /// A new transaction.
    New,
    /// The open transaction of a large source transaction, holding its first parts.
    Parts(Opened),
    /// A transaction begun for lanes, with what the mirror held for the batch already read: the
    /// batch did not split, and nothing is written yet.
    Read(sqlx::Transaction<'static, sqlx::Postgres>, apply::Prior),
}

/// How a batch offered to [`Replicator::apply_lanes`] went.
enum Lanes {
    /// Applied in lanes and committed: (transactions, row changes).
    Applied((u64, u64)),
    /// It does not split: it goes whole, from here.
    Whole(Start),
}

pub struct Replicator {
    pub source: mysql_async::Opts,
    /// Where `/readyz` reads this leader's staleness.
    pub health: Arc<crate::admin::Health>,
    pub resume: ResumeMode,
    pub flavour: Flavour,
    pub server_id: u32,
    pub mapping: Arc<Mapping>,
    /// The mapping file, read again at the start of every session: a fixed mapping is taken up
    /// by the session a `bridge snapshot --table` request starts, without a restart.
    pub mapping_path: Option<std::path::PathBuf>,
    pub db: PgPool,
    pub epoch: i64,
}

/// `bridge snapshot --table` asked for a table's snapshot: the session ends (nothing in flight is
/// lost: the next one starts from the checkpoint) and the next one takes it before streaming.
#[derive(Debug, thiserror::Error)]
#[error("a snapshot of table {0} was requested")]
pub struct TableSnapshotRequested(String);

fn target(mapping: &Mapping, generation: i64) -> Target<'_> {
    Target {
        items_table: &mapping.items.table,
        levels_table: mapping.levels_table(),
        pictures_table: mapping.pictures.as_ref().map(|m| m.table.as_str()),
        generation,
        currency: mapping.items.currency.code(),
        unknown_location_sellable: mapping.locations.is_none(),
        time_zone: &mapping.source.time_zone,
    }
}

impl Replicator {
    /// The mapping for a new session: the file as it is now, or (when it does not load) the one
    /// the process started with.
    fn session_mapping(&self) -> Arc<Mapping> {
        let Some(path) = &self.mapping_path else {
            return self.mapping.clone();
        };
        match Mapping::load(path) {
            Ok(mapping) => Arc::new(mapping),
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "the mapping file does not load; keeping the one read at start-up"
                );
                self.mapping.clone()
            }
        }
    }

    /// Runs until `stop`; errors restart the session after a backoff. The lease is renewed every
    /// second the whole time, snapshots included (a long snapshot must not look like a dead leader).
    pub async fn run(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        tokio::select! {
            stepped_down = self.keep_lease(stop) => stepped_down,
            ended = self.sessions(stop) => ended,
        }
    }

    /// Renews the lease every second until `stop`; returns an error only when another bridge has
    /// taken over (this one must stop writing). A failed renewal (PostgreSQL unreachable) is logged
    /// and retried: the lease may lapse, and the fence keeps a replaced leader from writing.
    async fn keep_lease(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(FRESHNESS_INTERVAL);
        let mut failing = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            match crate::leader::renew(&self.db, self.epoch).await {
                Ok(()) => failing = false,
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = format!("{e:#}"), "cannot renew the leader lease");
                    }
                    failing = true;
                }
            }
        }
    }

    async fn sessions(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let mut backoff = Duration::from_millis(500);
        while !stop.is_cancelled() {
            let started = Instant::now();
            let result = self.session(stop).await;
            if let Err(e) = result {
                if is_fatal(&e) {
                    return Err(e);
                }
                if let Some(requested) = e.downcast_ref::<TableSnapshotRequested>() {
                    tracing::info!(table = %requested.0, "a table snapshot was requested: starting a new session to take it");
                    continue;
                }
                // Logged and recorded by the session: the next one takes the table's snapshot at
                // once. Not an outage: no backoff, no error count.
                if e.downcast_ref::<binlog::ResnapshotNeeded>().is_some() {
                    continue;
                }
                metrics::counter!("bridge_errors_total", "kind" => "session").increment(1);
                tracing::error!(error = format!("{e:#}"), retry_in = ?backoff, "replication interrupted");
                if started.elapsed() > BACKOFF_MAX {
                    backoff = Duration::from_millis(500);
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
        Ok(())
    }

    async fn session(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let mapping = self.session_mapping();
        let (from, generation) = match self.checkpoint().await? {
            Some((position, generation)) => {
                let mut conn = mysql_async::Conn::new(self.source.clone())
                    .await
                    .context("connect to check the checkpoint")?;
                let recorded: Option<String> = sqlx::query_scalar::<_, Option<String>>(
                    "SELECT source_server FROM stock.checkpoint",
                )
                .fetch_optional(&self.db)
                .await?
                .flatten();
                let verdict =
                    checks::check_resume(&mut conn, &position, recorded.as_deref(), self.resume)
                        .await?;
                conn.disconnect().await.ok();
                match verdict? {
                    Resume::Yes => {
                        self.note_source_server(recorded.as_deref()).await?;
                        (position, generation)
                    }
                    Resume::Purged(why) => self.resnapshot(&mapping, &why).await?,
                }
            }
            None => self.snapshot(&mapping, None).await?,
        };
        let generation = self.settle_tables(&mapping, &from, generation).await?;
        let states = tables::load(&self.db).await?;
        tables::report(&states);
        let (tx, rx) = mpsc::channel(CHANNEL);
        let session_stop = stop.child_token();
        let reader = binlog::read(
            &self.source,
            self.server_id,
            mapping.clone(),
            ReadFrom {
                position: from,
                mode: self.resume,
                flavour: self.flavour,
                tables: tables::reader_states(&states),
            },
            tx,
            session_stop.clone(),
        );
        let applier = self.apply_stream(&mapping, rx, generation);
        let freshness = self.freshness(&session_stop);
        let result = tokio::try_join!(reader, applier, freshness).map(drop);
        session_stop.cancel();
        if let Err(e) = &result {
            // A purged binlog: the next session finds no finished snapshot and takes a fresh one.
            // A replaced table: the next session snapshots it alone.
            if binlog_purged(e) {
                self.mark_for_resnapshot(&format!("{e:#}")).await?;
            } else if let Some(ddl) = e.downcast_ref::<binlog::ResnapshotNeeded>() {
                tracing::warn!(
                    tables = ?ddl.tables,
                    reason = %ddl.reason,
                    "a mapped table was replaced on the source: taking a fresh snapshot of it"
                );
                for table in &ddl.tables {
                    let role = mapping
                        .role_of_table(table)
                        .context("a replaced table the mapping names")?;
                    tables::request_snapshot(&self.db, table, role, &ddl.reason).await?;
                    metrics::counter!("bridge_resnapshots_total", "reason" => "ddl").increment(1);
                }
            }
        }
        result
    }

    /// The binlog at the checkpoint is gone: a loud log line and metric, then a fresh snapshot. The
    /// old rows stay readable meanwhile but count as hard-stale (`snapshot_done = false`).
    async fn resnapshot(&self, mapping: &Mapping, why: &str) -> anyhow::Result<(Position, i64)> {
        self.mark_for_resnapshot(why).await?;
        self.snapshot(mapping, None).await
    }

    /// Before streaming: a mapped table that no longer fits the mapping (a column dropped or
    /// renamed while this bridge was away, say) is stopped at the checkpoint; tables the mapping
    /// no longer names are forgotten; each table a `bridge snapshot --table` asked for is loaded
    /// again on its own. Returns the generation to stream with.
    async fn settle_tables(
        &self,
        mapping: &Mapping,
        checkpoint: &Position,
        generation: i64,
    ) -> anyhow::Result<i64> {
        let mut conn = mysql_async::Conn::new(self.source.clone())
            .await
            .context("connect to check the mapping")?;
        let problems = mapping.problems_by_table(&mut conn).await?;
        conn.disconnect().await.ok();
        let rows = tables::load(&self.db).await?;
        let state_of = |table: &str| rows.iter().find(|r| r.table == table).map(|r| r.state);
        let mut tx = self.db.begin().await?;
        let mapped: Vec<&str> = mapping
            .roles()
            .into_iter()
            .filter_map(|r| mapping.table_of(r))
            .collect();
        tables::forget_unmapped(&mut tx, &mapped).await?;
        let mut requested = Vec::new();
        let mut stopped = false;
        for role in mapping.roles() {
            let table = mapping.table_of(role).unwrap_or_default();
            let state = state_of(table);
            match (problems.get(table), state) {
                (Some(problems), Some(State::Snapshotting)) => {
                    let reason = format!(
                        "a snapshot of {table} alone refused: the table still does not fit the mapping: {}",
                        problems.join("; ")
                    );
                    tracing::error!(table, reason = %reason, "table snapshot refused");
                    tables::stop_table(&mut tx, table, role, &reason, &checkpoint.label()).await?;
                    stopped = true;
                }
                (Some(problems), state) if state != Some(State::Stopped) => {
                    let reason = format!("found when the session started: {}", problems.join("; "));
                    tracing::error!(table, position = %checkpoint.label(), reason = %reason, "mapped table stopped");
                    tables::stop_table(&mut tx, table, role, &reason, &checkpoint.label()).await?;
                    stopped = true;
                }
                (None, Some(State::Snapshotting)) => requested.push(role),
                (None, None) => tables::adopt(&mut tx, &[(table, role)]).await?,
                _ => {}
            }
        }
        apply::move_checkpoint(&mut tx, self.epoch, checkpoint).await?;
        if stopped {
            // Sellability of every item may have changed.
            apply::notify(&mut tx, &StockChanged::all()).await?;
        }
        tx.commit().await?;
        if requested.is_empty() {
            Ok(generation)
        } else {
            Ok(self.snapshot(mapping, Some(&requested)).await?.1)
        }
    }

    async fn mark_for_resnapshot(&self, why: &str) -> anyhow::Result<()> {
        tracing::error!(
            reason = why,
            "the binlog at the checkpoint is no longer on the source: taking a fresh snapshot"
        );
        metrics::counter!("bridge_resnapshots_total", "reason" => "binlog_purged").increment(1);
        let updated = sqlx::query("UPDATE stock.checkpoint SET snapshot_done = false, updated_at = now() WHERE epoch = $1")
            .bind(self.epoch)
            .execute(&self.db)
            .await?
            .rows_affected();
        anyhow::ensure!(
            updated == 1,
            "epoch {} is no longer the leader's: stepping down",
            self.epoch
        );
        Ok(())
    }

    async fn checkpoint(&self) -> anyhow::Result<Option<(Position, i64)>> {
        #[derive(sqlx::FromRow)]
        struct Checkpoint {
            binlog_file: Option<String>,
            binlog_pos: Option<i64>,
            gtid: Option<String>,
            generation: i64,
            snapshot_done: bool,
        }
        let row: Option<Checkpoint> = sqlx::query_as(
            "SELECT binlog_file, binlog_pos, gtid, generation, snapshot_done FROM stock.checkpoint",
        )
        .fetch_optional(&self.db)
        .await?;
        Ok(
            row.and_then(|c| match (c.binlog_file, c.binlog_pos, c.snapshot_done) {
                (Some(file), Some(pos), true) => Some((
                    Position {
                        file,
                        pos: pos as u64,
                        gtid: c.gtid,
                    },
                    c.generation,
                )),
                _ => None,
            }),
        )
    }

    /// Copies mapped tables in one consistent snapshot into a new generation, in ONE PostgreSQL
    /// transaction with the checkpoint: readers see the old state or the new, never a mix.
    /// `only: None` copies every table that fits the mapping and moves the checkpoint to the
    /// snapshot's position (a table that does not fit is left out and stopped); `Some(roles)`
    /// copies those tables alone, marks them streaming from the snapshot's position (the reader
    /// skips what it holds) and leaves the checkpoint's position where it is.
    /// Returns the position to stream from and the generation.
    async fn snapshot(
        &self,
        mapping: &Mapping,
        only: Option<&[Role]>,
    ) -> anyhow::Result<(Position, i64)> {
        let started = Instant::now();
        let mut conn = mysql_async::Conn::new(self.source.clone())
            .await
            .context("connect to check the mapping")?;
        let problems = mapping.problems_by_table(&mut conn).await?;
        conn.disconnect().await.ok();
        let wanted: Vec<Role> = only.map_or_else(|| mapping.roles(), <[Role]>::to_vec);
        let (fit, unfit): (Vec<Role>, Vec<Role>) = wanted
            .into_iter()
            .partition(|role| !problems.contains_key(mapping.table_of(*role).unwrap_or_default()));
        let scoped = only.is_some() || !unfit.is_empty();
        let mut tx = self.db.begin().await?;
        // Not FOR UPDATE: the checkpoint row must stay free for the lease renewal while the copy
        // runs. The switch-in below is fenced by the epoch, so a leader replaced meanwhile writes
        // nothing.
        let current: Option<(i64, i64)> =
            sqlx::query_as("SELECT generation, epoch FROM stock.checkpoint")
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((_, epoch)) = current {
            anyhow::ensure!(
                epoch == self.epoch,
                "epoch {} is no longer the leader's: stepping down",
                self.epoch
            );
        }
        let generation = current.map_or(1, |(g, _)| g + 1);
        let at = format!("snapshot {generation}");
        let target = target(mapping, generation);
        let (out, mut changes) = mpsc::channel::<Change>(4096);
        let read = source::snapshot::read(&self.source, self.flavour, mapping, &fit, out);
        let write = async {
            let (mut rows, mut chunk) = (0u64, Vec::with_capacity(SNAPSHOT_CHUNK));
            loop {
                let more = changes.recv_many(&mut chunk, SNAPSHOT_CHUNK).await > 0;
                if !chunk.is_empty() && (chunk.len() >= SNAPSHOT_CHUNK || !more) {
                    let labelled: Vec<(&str, &Change)> =
                        chunk.iter().map(|c| (at.as_str(), c)).collect();
                    // What a chunk touched is not kept: `finish_snapshot` recomputes every sum and
                    // SKU flag, and gathering it over the whole copy would hold every key at once
                    // (58 MiB of a 1M-row snapshot's 74 MiB peak; docs/BENCHMARKS.md).
                    let mut touched = Touched::default();
                    apply::apply_changes(&mut tx, &target, &labelled, &mut touched).await?;
                    rows += chunk.len() as u64;
                    chunk.clear();
                }
                if !more {
                    break;
                }
            }
            anyhow::Ok(rows)
        };
        let (taken, rows) = tokio::try_join!(read, write)?;
        let position = taken.from;
        let reloaded = apply::Reloaded {
            items: fit
                .contains(&Role::Items)
                .then_some(mapping.items.table.as_str()),
            levels: (fit.contains(&Role::Levels)
                || (fit.contains(&Role::Items) && mapping.levels.is_none()))
            .then_some(mapping.levels_table()),
            lookups: fit
                .iter()
                .filter(|r| matches!(r, Role::Categories | Role::Locations))
                .map(|r| r.lookup_name())
                .collect(),
        };
        let pictures = fit
            .contains(&Role::Pictures)
            .then_some(target.pictures_table)
            .flatten();
        apply::finish_snapshot(
            &mut tx,
            generation,
            &at,
            scoped.then_some(&reloaded),
            pictures,
        )
        .await?;
        let loaded: Vec<(&str, Role)> = fit
            .iter()
            .filter_map(|r| mapping.table_of(*r).map(|t| (t, *r)))
            .collect();
        tables::mark_streaming(&mut tx, &loaded, only.is_some().then_some(&position)).await?;
        for role in &unfit {
            let table = mapping.table_of(*role).unwrap_or_default();
            let reason = format!(
                "left out of the snapshot: {}",
                problems
                    .get(table)
                    .map(|p| p.join("; "))
                    .unwrap_or_default()
            );
            tracing::error!(table, reason = %reason, "mapped table stopped");
            tables::stop_table(&mut tx, table, *role, &reason, &position.label()).await?;
        }
        if only.is_some() {
            // The other tables stream on from the checkpoint: only the generation moves.
            let written: Option<(Option<String>, Option<i64>, Option<String>)> = sqlx::query_as(
                "UPDATE stock.checkpoint SET generation = $2, updated_at = now(),
                     caught_up_at = CASE WHEN $3 THEN NULL ELSE caught_up_at END
                 WHERE epoch = $1 RETURNING binlog_file, binlog_pos, gtid",
            )
            .bind(self.epoch)
            .bind(generation)
            .bind(self.flavour.snapshot_replays())
            .fetch_optional(&mut *tx)
            .await?;
            let Some((file, pos, gtid)) = written else {
                anyhow::bail!(
                    "epoch {} is no longer the leader's: stepping down",
                    self.epoch
                );
            };
            apply::notify(&mut tx, &StockChanged::all()).await?;
            tx.commit().await.context("table snapshot commit")?;
            let tables: Vec<&str> = loaded.iter().map(|(t, _)| *t).collect();
            tracing::info!(rows, generation, tables = ?tables, position = %position.label(), elapsed = ?started.elapsed(), "table snapshot switched in");
            return Ok((
                Position {
                    file: file.unwrap_or_default(),
                    pos: pos.unwrap_or_default() as u64,
                    gtid,
                },
                generation,
            ));
        }
        let written = sqlx::query(
            "INSERT INTO stock.checkpoint (id, epoch, leader, source_server, gtid, binlog_file, binlog_pos, generation, snapshot_done, updated_at, lease_until)
             VALUES (true, $1, $2, $3, $4, $5, $6, $7, true, now(), clock_timestamp() + make_interval(secs => $8))
             ON CONFLICT (id) DO UPDATE SET gtid = EXCLUDED.gtid, binlog_file = EXCLUDED.binlog_file,
                 binlog_pos = EXCLUDED.binlog_pos, generation = EXCLUDED.generation, snapshot_done = true,
                 source_server = EXCLUDED.source_server, updated_at = now(),
                 caught_up_at = CASE WHEN $9 THEN NULL ELSE stock.checkpoint.caught_up_at END,
                 -- The stream starts again from the snapshot's position: nothing is ahead of it.
                 applied_ahead = '{}'
             WHERE stock.checkpoint.epoch = EXCLUDED.epoch",
        )
        .bind(self.epoch)
        .bind(instance_name(self.server_id))
        .bind(self.source_identity().await.unwrap_or_default())
        .bind(&position.gtid)
        .bind(&position.file)
        .bind(position.pos as i64)
        .bind(generation)
        .bind(crate::leader::LEASE_SECS)
        .bind(self.flavour.snapshot_replays())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Another bridge took over meanwhile: roll the whole snapshot back.
        anyhow::ensure!(
            written == 1,
            "epoch {} is no longer the leader's: stepping down",
            self.epoch
        );
        apply::notify(&mut tx, &StockChanged::all()).await?;
        tx.commit().await.context("snapshot commit")?;
        tracing::info!(rows, generation, position = %position.label(), elapsed = ?started.elapsed(), "snapshot switched in");
        Ok((position, generation))
    }

    /// After a failover followed by GTID, the checkpoint's positions become the new server's as
    /// soon as it streams: the checkpoint names that server from now on.
    async fn note_source_server(&self, recorded: Option<&str>) -> anyhow::Result<()> {
        let current = self.source_identity().await?;
        if recorded != Some(current.as_str()) {
            tracing::warn!(
                recorded = recorded.unwrap_or("-"),
                current = %current,
                "streaming from another source server than the checkpoint's (a failover, followed by GTID)"
            );
            sqlx::query("UPDATE stock.checkpoint SET source_server = $2 WHERE epoch = $1")
                .bind(self.epoch)
                .bind(&current)
                .execute(&self.db)
                .await?;
        }
        Ok(())
    }

    async fn source_identity(&self) -> anyhow::Result<String> {
        let mut conn = mysql_async::Conn::new(self.source.clone()).await?;
        let identity = source::server_identity(&mut conn).await;
        conn.disconnect().await.ok();
        identity
    }

    /// Drains the channel in batches of whole source transactions. A transaction that comes in
    /// parts is applied on its own, in one PostgreSQL transaction held open until its last part.
    async fn apply_stream(
        &self,
        mapping: &Mapping,
        mut rx: mpsc::Receiver<Item>,
        generation: i64,
    ) -> anyhow::Result<()> {
        let target = target(mapping, generation);
        // Transactions a crash left committed ahead of the checkpoint (between two lanes' commits).
        let mut ahead: BTreeSet<String> =
            sqlx::query_scalar::<_, Vec<String>>("SELECT applied_ahead FROM stock.checkpoint")
                .fetch_optional(&self.db)
                .await?
                .unwrap_or_default()
                .into_iter()
                .collect();
        if !ahead.is_empty() {
            tracing::info!(
                transactions = ahead.len(),
                "source transactions were committed ahead of the checkpoint before a stop: passing over them"
            );
        }
        while let Some(first) = rx.recv().await {
            let mut part = None;
            let mut batch = Vec::new();
            let mut rows = 0;
            match first {
                Item::Part(p) => part = Some(p),
                item => {
                    rows += item.rows();
                    batch.push(item);
                }
            }
            while part.is_none() && batch.len() < MAX_BATCH && rows < MAX_BATCH_ROWS {
                match rx.try_recv() {
                    Ok(Item::Part(p)) => part = Some(p),
                    Ok(item) => {
                        rows += item.rows();
                        batch.push(item);
                    }
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.apply_batch(&target, batch, None, &mut ahead).await?;
            }
            if let Some(part) = part {
                let (opened, rest) = self.apply_parts(&target, part, &mut rx).await?;
                self.apply_batch(&target, vec![rest], opened, &mut ahead)
                    .await?;
            }
        }
        Ok(())
    }

    /// Applies the parts of a large source transaction in a new PostgreSQL transaction, left
    /// open, until the transaction's last piece arrives; returns both. A source transaction that
    /// ended in ROLLBACK arrives as a progress: its open transaction is rolled back.
    async fn apply_parts(
        &self,
        target: &Target<'_>,
        first: binlog::Part,
        rx: &mut mpsc::Receiver<Item>,
    ) -> anyhow::Result<(Option<Opened>, Item)> {
        tracing::info!(
            at = %first.label,
            "a large source transaction: applying it in parts in one open PostgreSQL transaction"
        );
        let mut opened = Opened {
            tx: self.db.begin().await?,
            touched: Touched::default(),
            rows: 0,
        };
        let mut next = first;
        loop {
            let labelled: Vec<(&str, &Change)> = next
                .changes
                .iter()
                .map(|c| (next.label.as_str(), c))
                .collect();
            apply::apply_changes(&mut opened.tx, target, &labelled, &mut opened.touched).await?;
            // Sums and SKU flags are worked out per part (later parts redo what they touch), so
            // memory stays at a part's keys whatever the transaction's size.
            apply::recompute(&mut opened.tx, target, &opened.touched).await?;
            opened.touched.recount.clear();
            opened.touched.skus.clear();
            opened.touched.pictures.clear();
            opened.rows += next.changes.len();
            crash::reach(Point::MidLargeTransaction);
            // Applied: the reader may cut the next part (its permit goes with this one).
            drop(next);
            match rx.recv().await {
                Some(Item::Part(part)) => next = part,
                Some(rest @ Item::Transaction(_)) => return Ok((Some(opened), rest)),
                Some(passed @ Item::Progress(_)) => {
                    opened.tx.rollback().await?;
                    return Ok((None, passed));
                }
                None => anyhow::bail!("the reader stopped inside a large source transaction"),
            }
        }
    }

    /// Applies whole source transactions (and progress) in one PostgreSQL transaction with the
    /// checkpoint, or, when the batch is large and splits, in [`LANES`] at once; with `opened`, the
    /// batch is the rest of a large transaction whose first parts that open transaction already
    /// holds. Transactions in `ahead` were committed ahead of the checkpoint before a crash: they
    /// are passed over (and leave `ahead`), the rest of `ahead` is written back with the checkpoint.
    async fn apply_batch(
        &self,
        target: &Target<'_>,
        batch: Vec<Item>,
        opened: Option<Opened>,
        ahead: &mut BTreeSet<String>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut last: Option<Position> = None;
        // (position label, changes) of each source transaction, in commit order.
        let mut transactions: Vec<(String, Vec<Change>)> = Vec::new();
        let mut stops = Vec::new();
        for item in batch {
            match item {
                Item::Transaction(txn) => {
                    let label = txn.gtid.clone().unwrap_or_else(|| txn.end.label());
                    last = Some(txn.end);
                    if ahead.remove(&label) {
                        continue;
                    }
                    stops.extend(txn.stops.into_iter().map(|s| (label.clone(), s)));
                    transactions.push((label, txn.changes));
                }
                Item::Progress(position) => last = Some(position),
                Item::Part(_) => anyhow::bail!("a part of a source transaction inside a batch"),
            }
        }
        let Some(last) = last else { return Ok(()) };
        let rows: usize = transactions.iter().map(|(_, c)| c.len()).sum();
        let still_ahead: Vec<&str> = ahead.iter().map(String::as_str).collect();
        let start = opened.map_or(Start::New, Start::Parts);
        let lanes = if matches!(start, Start::New) && stops.is_empty() && rows >= LANE_MIN_ROWS {
            self.apply_lanes(target, &transactions, &last, &still_ahead)
                .await?
        } else {
            Lanes::Whole(start)
        };
        let (transactions, rows) = match lanes {
            Lanes::Applied(counts) => counts,
            Lanes::Whole(start) => {
                self.apply_whole(target, &transactions, stops, start, &last, &still_ahead)
                    .await?
            }
        };
        crash::reach(Point::AfterCommit);
        metrics::counter!("bridge_transactions_applied_total").increment(transactions);
        metrics::counter!("bridge_rows_applied_total").increment(rows);
        metrics::histogram!("bridge_apply_batch_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// One PostgreSQL transaction for the batch (or the rest of the large transaction whose parts
    /// `start` holds), committed with the checkpoint at `last`. Returns the transactions and row
    /// changes applied.
    async fn apply_whole(
        &self,
        target: &Target<'_>,
        transactions: &[(String, Vec<Change>)],
        stops: Vec<(String, binlog::TableStop)>,
        start: Start,
        last: &Position,
        ahead: &[&str],
    ) -> anyhow::Result<(u64, u64)> {
        let (mut tx, mut touched, parted, prior) = match start {
            Start::New => (self.db.begin().await?, Touched::default(), 0, None),
            Start::Parts(o) => (o.tx, o.touched, o.rows, None),
            Start::Read(tx, prior) => (tx, Touched::default(), 0, Some(prior)),
        };
        let changes = labelled(transactions.iter());
        match prior {
            Some(prior) => {
                apply::apply_after(&mut tx, target, &changes, &prior, &mut touched).await?;
            }
            None => apply::apply_changes(&mut tx, target, &changes, &mut touched).await?,
        }
        // The parts already applied belong to the batch's (only) transaction.
        let logged: Vec<(&str, usize)> = transactions
            .iter()
            .map(|(label, changes)| (label.as_str(), changes.len() + parted))
            .collect();
        apply::recompute(&mut tx, target, &touched).await?;
        let stopped: Vec<(&str, &binlog::TableStop)> =
            stops.iter().map(|(at, s)| (at.as_str(), s)).collect();
        tables::record_stops(&mut tx, &stopped).await?;
        crash::reach(Point::MidBatch);
        // Sellability of every item may have changed, or more keys than a payload holds.
        let notify = notification(&touched, &last.label(), !stops.is_empty());
        apply::log_and_move(
            &mut tx,
            self.epoch,
            &logged,
            Some(last),
            Some(ahead),
            notify.as_ref(),
        )
        .await?;
        tx.commit()
            .await
            .with_context(|| format!("commit up to {}", last.label()))?;
        Ok(counts(&logged))
    }

    /// Applies a large batch in [`LANES`] at once when it splits into sets of transactions that
    /// share no item, level row or SKU (`sink::lanes`); when it does not, nothing is written and the
    /// whole batch goes on from the transaction begun here, with what the mirror held already read.
    /// The lanes commit one after another: each but the last records its transactions in the
    /// change log and as committed ahead of the checkpoint, which stays; the last moves the
    /// checkpoint to `last` and leaves only `ahead` (from before a crash) ahead of it. A crash in
    /// between leaves the first lanes' transactions listed, and the next session passes them over.
    async fn apply_lanes(
        &self,
        target: &Target<'_>,
        transactions: &[(String, Vec<Change>)],
        last: &Position,
        ahead: &[&str],
    ) -> anyhow::Result<Lanes> {
        // Every lane's transaction begins first, so the read of what the mirror held is shared
        // out among them and takes both cores, not one.
        let mut connections =
            futures::future::try_join_all((0..LANES).map(|_| self.db.begin())).await?;
        let prior =
            apply::Prior::read_on(&mut connections, target, &labelled(transactions.iter())).await?;
        let changes: Vec<&[Change]> = transactions.iter().map(|(_, c)| c.as_slice()).collect();
        let Some(sets) = lanes::split(&changes, &prior, LANES) else {
            // The others have read only: dropping them rolls them back.
            let first = connections.swap_remove(0);
            return Ok(Lanes::Whole(Start::Read(first, prior)));
        };
        metrics::counter!("bridge_batches_in_lanes_total").increment(1);
        // The lanes share no row by construction; should one ever wait for a row the other holds,
        // neither could commit (the first commits only when both are through), and PostgreSQL
        // would see no deadlock: a lock wait this long ends the session with an error instead.
        for tx in &mut connections {
            sqlx::query("SET LOCAL lock_timeout = '10s'")
                .execute(&mut **tx)
                .await?;
        }
        let lanes: Vec<Vec<&(String, Vec<Change>)>> = sets
            .iter()
            .map(|set| set.iter().map(|&i| &transactions[i]).collect())
            .collect();
        let applied =
            futures::future::try_join_all(connections.iter_mut().zip(&lanes).map(|(tx, lane)| {
                let prior = &prior;
                async move {
                    let mut touched = Touched::default();
                    let changes = labelled(lane.iter().copied());
                    apply::apply_after(tx, target, &changes, prior, &mut touched).await?;
                    apply::recompute(tx, target, &touched).await?;
                    anyhow::Ok(touched)
                }
            }))
            .await?;
        crash::reach(Point::MidBatch);
        let mut committed_ahead: Vec<&str> = ahead.to_vec();
        let (mut transactions_applied, mut rows_applied) = (0, 0);
        let lane_count = lanes.len();
        for (index, ((mut tx, touched), lane)) in
            connections.into_iter().zip(applied).zip(&lanes).enumerate()
        {
            let logged: Vec<(&str, usize)> = lane
                .iter()
                .map(|(label, changes)| (label.as_str(), changes.len()))
                .collect();
            let final_lane = index + 1 == lane_count;
            let lane_last = lane.last().map_or_else(|| last.label(), |(l, _)| l.clone());
            let notify = notification(&touched, &lane_last, false);
            // The last lane moves the checkpoint; the others leave it and list their transactions.
            let (at, listed) = if final_lane {
                (Some(last), ahead)
            } else {
                committed_ahead.extend(logged.iter().map(|(label, _)| *label));
                (None, committed_ahead.as_slice())
            };
            apply::log_and_move(
                &mut tx,
                self.epoch,
                &logged,
                at,
                Some(listed),
                notify.as_ref(),
            )
            .await?;
            tx.commit()
                .await
                .with_context(|| format!("commit of lane {} up to {lane_last}", index + 1))?;
            if !final_lane {
                crash::reach(Point::BetweenLanes);
            }
            let (t, r) = counts(&logged);
            transactions_applied += t;
            rows_applied += r;
        }
        Ok(Lanes::Applied((transactions_applied, rows_applied)))
    }

    /// Every second: when the committed checkpoint has reached the source's head (read after
    /// taking PostgreSQL's clock), `caught_up_at` moves to that clock reading.
    async fn freshness(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(FRESHNESS_INTERVAL);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            let t0: time::OffsetDateTime = sqlx::query_scalar("SELECT clock_timestamp()")
                .fetch_one(&self.db)
                .await?;
            let head = match source::binlog_head(&self.source).await {
                Ok(head) => head,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "freshness: cannot read the source's head"
                    );
                    continue;
                }
            };
            if let Some((checkpoint, _)) = self.checkpoint().await? {
                if checkpoint.reached(&head) {
                    sqlx::query("UPDATE stock.checkpoint SET caught_up_at = GREATEST(caught_up_at, $2) WHERE epoch = $1")
                        .bind(self.epoch)
                        .bind(t0)
                        .execute(&self.db)
                        .await?;
                }
                let behind = if checkpoint.file == head.file {
                    head.position.saturating_sub(checkpoint.pos)
                } else {
                    head.position
                };
                metrics::gauge!("bridge_source_bytes_behind").set(behind as f64);
            }
            let staleness: Option<f64> = sqlx::query_scalar(
                "SELECT extract(epoch FROM staleness)::float8 FROM stock.freshness",
            )
            .fetch_optional(&self.db)
            .await?
            .flatten();
            metrics::gauge!("bridge_replication_lag_seconds")
                .set(staleness.unwrap_or(f64::INFINITY));
            self.health
                .set_role(crate::admin::Role::Leader { staleness });
            let states = tables::load(&self.db).await?;
            tables::report(&states);
            if let Some(requested) = states.iter().find(|t| t.state == State::Snapshotting) {
                return Err(TableSnapshotRequested(requested.table.clone()).into());
            }
        }
    }
}

/// Each change of `transactions` with the label of the source transaction it belongs to.
fn labelled<'a>(
    transactions: impl Iterator<Item = &'a (String, Vec<Change>)>,
) -> Vec<(&'a str, &'a Change)> {
    transactions
        .flat_map(|(label, changes)| changes.iter().map(move |c| (label.as_str(), c)))
        .collect()
}

/// The transactions and row changes of a change log's rows.
fn counts(logged: &[(&str, usize)]) -> (u64, u64) {
    (
        logged.len() as u64,
        logged.iter().map(|(_, rows)| *rows as u64).sum(),
    )
}

/// The notification a commit sends: every item (`all`), the items `touched` names, or none.
fn notification(touched: &Touched, at: &str, all: bool) -> Option<StockChanged> {
    if all || touched.items.all() {
        Some(StockChanged::all())
    } else {
        let mut keys = touched
            .items
            .keys()
            .map(|k| contracts::ItemKey::new(k.to_owned()))
            .peekable();
        keys.peek()?;
        Some(StockChanged::for_keys(at.to_owned(), keys))
    }
}

/// Errors no retry can mend: a different source, a lost leadership.
fn is_fatal(e: &anyhow::Error) -> bool {
    e.downcast_ref::<checks::SourceProblem>().is_some()
        || e.to_string().contains("no longer the leader")
}

/// MariaDB's answer when the requested binlog file or GTID is not on the server any more.
fn binlog_purged(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(cause.downcast_ref::<mysql_async::Error>(),
            Some(mysql_async::Error::Server(s)) if s.code == 1236 && (s.message.contains("Could not find") || s.message.contains("purged")))
    })
}

/// This bridge's name in the checkpoint row: host, process and server id.
pub fn instance_name(server_id: u32) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}:{server_id}", host.trim(), std::process::id())
}
