//! The bridge: the only program that talks to the legacy stock database, and only with replication
//! grants + SELECT. It replicates stock into the shop database's schema `stock` (see
//! `docs/ARCHITECTURE.md`).
//!
//! Status: snapshot and binlog streaming, exactly once, with a leader lock, tested end to end on
//! MariaDB; the MySQL 8 / RDS flavour is built but only unit-tested. README's status table lists
//! what is not built yet.

pub mod admin;
pub mod allocator;
pub mod cli;
pub mod config;
pub mod crash;
pub mod images;
pub mod leader;
pub mod mapping;
pub mod replicate;
pub mod sink;
pub mod source;
pub mod telemetry;
pub mod verify;

use anyhow::Context;
use cli::Command;
use config::Settings;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the source's binlog head and the target are probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long the admin listener may take to finish in-flight requests after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub async fn run(
    command: Command,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match command {
        Command::Run => run_until_stopped(settings, shutdown).await,
        Command::Status => print_status(&settings).await,
        Command::Verify => run_verify(&settings).await,
        Command::Snapshot { table } => run_table_snapshot(&settings, &table).await,
        Command::Images(images) => run_images_command(images, &settings).await,
    }
}

async fn run_until_stopped(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    crash::check()?;
    let metrics = telemetry::init_metrics()?;
    let source_opts = source::connect_opts(&settings.source)?;
    let target = sink::pool(&settings.target)?;
    let health = Arc::new(admin::Health::default());
    let listener = tokio::net::TcpListener::bind(settings.admin.listen)
        .await
        .with_context(|| format!("cannot listen on admin.listen = {}", settings.admin.listen))?;
    let admin_addr = listener
        .local_addr()
        .context("admin listener has no address")?;
    tracing::info!(admin = %admin_addr, flavour = ?settings.source.flavour, "bridge listening");

    let stop = CancellationToken::new();
    let admin = axum::serve(
        listener,
        admin::router(
            health.clone(),
            metrics,
            settings.admin.ready_max_staleness_secs,
        ),
    )
    .with_graceful_shutdown(stop.clone().cancelled_owned())
    .into_future();
    let admin = tokio::spawn(admin);

    // Pictures are made by every bridge, leader or standby (jobs are claimed with SKIP LOCKED),
    // beside replication and never in its way.
    let images = match settings.images.clone() {
        Some(images) => {
            let pool_size = u32::try_from(images.workers)
                .unwrap_or(u32::MAX)
                .saturating_add(2);
            let mapping = Arc::new(mapping::Mapping::load(&settings.source.mapping)?);
            tokio::spawn(images::run(
                images,
                mapping,
                source_opts.clone(),
                sink::pool_of(&settings.target, pool_size)?,
                stop.clone(),
            ))
        }
        None => {
            tracing::warn!(
                "no [images] settings: item pictures stay pending (the shop shows its placeholder)"
            );
            tokio::spawn(async {})
        }
    };

    let replication = tokio::spawn(replicate_until_stopped(
        settings,
        health.clone(),
        stop.clone(),
    ));

    let probe_stop = stop.clone();
    let probes = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => probe(&source_opts, &target, &health).await,
                () = probe_stop.cancelled() => break,
            }
        }
        target.close().await;
    });

    let mut replication = replication;
    let failed = tokio::select! {
        () = shutdown => {
            tracing::info!("shutdown requested");
            None
        }
        ended = &mut replication => Some(ended),
    };
    stop.cancel();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        tokio::join!(admin, probes, images)
    })
    .await;
    if drained.is_err() {
        tracing::warn!("shutdown took too long; exiting anyway");
    }
    match failed {
        None => {
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, replication).await;
            Ok(())
        }
        Some(ended) => ended.context("replication task panicked")?,
    }
}

/// Loads and checks the mapping, waits for leadership, then replicates until `stop`.
async fn replicate_until_stopped(
    settings: Settings,
    health: Arc<admin::Health>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mapping = mapping::Mapping::load(&settings.source.mapping)?;
    let source = source::connect_opts(&settings.source)?;
    let mut conn = mysql_async::Conn::new(source.clone())
        .await
        .context("cannot connect to the legacy database")?;
    source::checks::check(&mut conn, settings.source.flavour, settings.source.resume).await??;
    let problems = mapping.table_problems(&mut conn).await?;
    conn.disconnect().await.ok();
    let db = sink::pool(&settings.target)?;
    if !problems.is_empty() {
        // A table the replica has never loaded must fit, and a source set up in a way the bridge
        // cannot follow is refused (a mapping or configuration mistake: exit 15). A table it
        // replicates whose shape changed (a column dropped while this bridge was away) stops
        // alone: exiting would stop every table and, under a supervisor, loop. A replica that
        // cannot be read (not there yet, unreachable) counts as having loaded nothing.
        let replicated: Vec<String> = sqlx::query_scalar(
            "SELECT source_table FROM stock.source_tables WHERE EXISTS (SELECT 1 FROM stock.checkpoint)",
        )
        .fetch_all(&db)
        .await
        .unwrap_or_default();
        let refused: Vec<String> = problems
            .iter()
            .flat_map(|(table, p)| {
                let shape = (!replicated.contains(table)).then_some(&p.shape);
                p.setup.iter().chain(shape.into_iter().flatten()).cloned()
            })
            .collect();
        if !refused.is_empty() {
            return Err(source::checks::SourceProblem::Mapping(refused.join("; ")).into());
        }
        tracing::error!(
            problems = %problems.values().flat_map(|p| p.shape.iter().cloned()).collect::<Vec<_>>().join("; "),
            tables = ?problems.keys().collect::<Vec<_>>(),
            "mapped tables no longer fit the mapping: they stay stopped (the others stream on) until fixed and `bridge snapshot --table` has run"
        );
    }
    sqlx::query("SELECT now() AT TIME ZONE $1")
        .bind(&mapping.source.time_zone)
        .execute(&db)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(_) => anyhow::anyhow!(
                "mapping: source.time_zone = {:?} is not a time zone PostgreSQL knows (use an IANA name such as Europe/London)",
                mapping.source.time_zone
            ),
            other => anyhow::Error::new(other).context("cannot reach the shop database"),
        })?;
    let instance = replicate::instance_name(settings.source.server_id);
    let target_url = secrecy::ExposeSecret::expose_secret(&settings.target.url).to_owned();
    health.set_role(admin::Role::Standby);
    let Some(leadership) = leader::acquire(&target_url, &instance, &stop).await? else {
        return Ok(());
    };
    health.set_role(admin::Role::Leader { staleness: None });

    let replicator = replicate::Replicator {
        source,
        health,
        resume: settings.source.resume,
        flavour: settings.source.flavour,
        server_id: settings.source.server_id,
        mapping: std::sync::Arc::new(mapping),
        mapping_path: Some(settings.source.mapping.clone()),
        db,
        epoch: leadership.epoch,
    };
    let result = replicator.run(&stop).await;
    replicator.db.close().await;
    drop(leadership);
    result
}

/// One probe of each database; failures are logged once per change of state, not every second.
async fn probe(source_opts: &mysql_async::Opts, target: &sqlx::PgPool, health: &admin::Health) {
    let source = source::binlog_head(source_opts).await;
    if let Ok(head) = &source {
        metrics::gauge!("bridge_source_binlog_position_bytes").set(head.position as f64);
    }
    report("source", &health.source, source.map(drop));
    report("target", &health.target, sink::ping(target).await);
}

fn report(what: &'static str, seen: &admin::Reachability, result: anyhow::Result<()>) {
    let now_up = result.is_ok();
    let changed = seen.set(now_up);
    metrics::gauge!(format!("bridge_{what}_up")).set(if now_up { 1.0 } else { 0.0 });
    match result {
        Err(e) if changed => tracing::warn!(error = format!("{e:#}"), "{what} unreachable"),
        Ok(()) if changed => tracing::info!("{what} reachable"),
        _ => {}
    }
}

async fn print_status(settings: &Settings) -> anyhow::Result<()> {
    let head = source::binlog_head(&source::connect_opts(&settings.source)?).await?;
    println!(
        "source: reachable, binlog at {}:{}",
        head.file, head.position
    );
    let target = sink::pool(&settings.target)?;
    sink::ping(&target).await?;
    println!("target: reachable");
    #[derive(sqlx::FromRow)]
    struct Replica {
        leader: String,
        epoch: i64,
        gtid: Option<String>,
        binlog_file: Option<String>,
        binlog_pos: Option<i64>,
        staleness_seconds: Option<f64>,
        applied_ahead: Vec<String>,
    }
    let replica: Option<Replica> = sqlx::query_as(
        "SELECT c.leader, c.epoch, c.gtid, c.binlog_file, c.binlog_pos, extract(epoch FROM f.staleness)::float8 AS staleness_seconds,
                c.applied_ahead
         FROM stock.checkpoint c CROSS JOIN stock.freshness f",
    )
    .fetch_optional(&target)
    .await?;
    match replica {
        None => println!("replica: no snapshot yet"),
        Some(r) => {
            println!(
                "replica: at {} ({}:{}), leader {} (epoch {}), staleness {}",
                r.gtid.as_deref().unwrap_or("-"),
                r.binlog_file.as_deref().unwrap_or("-"),
                r.binlog_pos.unwrap_or_default(),
                r.leader,
                r.epoch,
                r.staleness_seconds.map_or_else(
                    || "unknown (hard-stale)".to_owned(),
                    |s| format!("{s:.1} s")
                ),
            );
            // Only between two lanes' commits, or after a crash there (docs/OPERATIONS.md).
            if !r.applied_ahead.is_empty() {
                println!(
                    "replica: {} source transaction(s) committed ahead of the checkpoint, passed over when the stream resumes",
                    r.applied_ahead.len()
                );
            }
        }
    }
    for line in sink::tables::describe(&sink::tables::load(&target).await?) {
        println!("{line}");
    }
    for line in images::gc::describe(&target).await? {
        println!("{line}");
    }
    let quarantined: Vec<(String, String)> =
        sqlx::query_as("SELECT item_key, quarantine_reason FROM stock.items WHERE quarantine_reason IS NOT NULL ORDER BY item_key")
            .fetch_all(&target)
            .await?;
    println!("quarantined rows: {}", quarantined.len());
    for (key, reason) in quarantined {
        println!("  item {key}: {reason}");
    }
    Ok(())
}

async fn run_images_command(
    command: cli::ImagesCommand,
    settings: &Settings,
) -> anyhow::Result<()> {
    let db = sink::pool(&settings.target)?;
    match command {
        cli::ImagesCommand::Requeue => {
            let n = images::gc::requeue_dead(&db).await?;
            println!("{n} dead image job(s) back in the queue");
        }
        cli::ImagesCommand::Gc => {
            let images = images::require(settings.images.as_ref())?;
            let done = images::collect_once(images, &db).await?;
            println!(
                "pictures unreferenced: {} newly, {} referenced again; removed: {}; finished jobs purged: {}",
                done.marked, done.unmarked, done.removed, done.jobs_purged
            );
        }
    }
    Ok(())
}

/// How long `bridge snapshot --table` waits for the leader to switch the table in.
const TABLE_SNAPSHOT_WAIT: Duration = Duration::from_secs(600);

/// `bridge snapshot --table X`: checks X against the mapping and the source (refusing, exit 15,
/// while it still does not fit), then asks the running leader for the snapshot and waits for the
/// outcome. The leader does the work so the switch-in is fenced and ordered with its stream.
async fn run_table_snapshot(settings: &Settings, table: &str) -> anyhow::Result<()> {
    let mapping = mapping::Mapping::load(&settings.source.mapping)?;
    let Some(role) = mapping.role_of_table(table) else {
        let mapped: Vec<&str> = mapping
            .roles()
            .into_iter()
            .filter_map(|r| mapping.table_of(r))
            .collect();
        anyhow::bail!(
            "{table} is not a table of the mapping {} (it maps: {})",
            settings.source.mapping.display(),
            mapped.join(", ")
        );
    };
    let mut conn = mysql_async::Conn::new(source::connect_opts(&settings.source)?)
        .await
        .context("cannot connect to the legacy database")?;
    let problems = mapping.problems_by_table(&mut conn).await?;
    conn.disconnect().await.ok();
    if let Some(problems) = problems.get(table) {
        return Err(source::checks::SourceProblem::Mapping(format!(
            "{}.{table} still does not fit: {}. Fix the mapping file ({}) or the source table, then run `bridge snapshot --table {table}` again",
            mapping.source.schema,
            problems.join("; "),
            settings.source.mapping.display()
        ))
        .into());
    }
    let db = sink::pool(&settings.target)?;
    let replicating: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stock.checkpoint WHERE snapshot_done)")
            .fetch_one(&db)
            .await
            .context("cannot reach the shop database")?;
    anyhow::ensure!(
        replicating,
        "no finished snapshot yet: `bridge run` takes a full one first"
    );
    let requested = sink::tables::request_snapshot(
        &db,
        table,
        role,
        "bridge snapshot --table asked for a fresh snapshot",
    )
    .await?;
    println!("{table}: snapshot requested; waiting for the leader to switch it in");
    let deadline = tokio::time::Instant::now() + TABLE_SNAPSHOT_WAIT;
    loop {
        #[derive(sqlx::FromRow)]
        struct Outcome {
            state: String,
            reason: Option<String>,
            snapshot_at: Option<String>,
            decided: bool,
        }
        let outcome: Outcome = sqlx::query_as(
            "SELECT state::text AS state, reason, COALESCE(snapshot_gtid, snapshot_file || ':' || snapshot_pos) AS snapshot_at,
                    since > $2 AS decided
             FROM stock.source_tables WHERE source_table = $1",
        )
        .bind(table)
        .bind(requested)
        .fetch_one(&db)
        .await?;
        match (outcome.state.as_str(), outcome.decided) {
            ("streaming", true) => {
                println!(
                    "{table}: snapshot switched in at {}; streaming again",
                    outcome.snapshot_at.as_deref().unwrap_or("-")
                );
                return Ok(());
            }
            ("stopped", true) => {
                return Err(source::checks::SourceProblem::Mapping(
                    outcome.reason.unwrap_or_default(),
                )
                .into());
            }
            _ => {}
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no leader took the request within {TABLE_SNAPSHOT_WAIT:?} (is `bridge run` running?); the request stays, and the next leader takes it"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Drift found by `bridge verify`: exit code 1 (errors are 2).
#[derive(Debug, thiserror::Error)]
#[error("drift: {0} item(s) differ from the source")]
pub struct Drift(usize);

/// `bridge verify` could not decide: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("verify failed: {0:#}")]
pub struct VerifyFailed(anyhow::Error);

async fn run_verify(settings: &Settings) -> anyhow::Result<()> {
    let verdict = async {
        let mapping = mapping::Mapping::load(&settings.source.mapping)?;
        let source = source::connect_opts(&settings.source)?;
        let db = sink::pool(&settings.target)?;
        verify::verify(&source, settings.source.flavour, &mapping, &db).await
    };
    match verdict.await.map_err(VerifyFailed)? {
        verify::Verdict::Equal { items } => {
            println!("equal: {items} items match the source");
            Ok(())
        }
        verify::Verdict::Drift { keys } => {
            for (key, detail) in keys.iter().take(20) {
                println!("item {key}: {detail}");
            }
            Err(Drift(keys.len()).into())
        }
    }
}

/// The process exit code for an error: a source misconfiguration has its own (10–16), `verify`
/// says 1 for drift and 2 when it could not decide, anything else is 1. Bad settings exit with 2 before this is reached.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<Drift>().is_some() {
        1
    } else if error.downcast_ref::<VerifyFailed>().is_some() {
        2
    } else {
        error
            .downcast_ref::<source::checks::SourceProblem>()
            .map_or(1, source::checks::SourceProblem::exit_code)
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
