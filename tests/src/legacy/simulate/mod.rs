//! The stock-staff simulator behind `simulate`: an open-loop writer that starts transactions at a
//! fixed rate whether or not the previous ones have finished, the way several people at several
//! screens do. Work is planned from a seed ([`plan`]) and run as one transaction per job
//! ([`apply`]); a failed transaction (a deadlock, a lost connection) is retried once and then
//! counted, never a panic. It writes only through the connection it is given and needs the demo
//! schema (`demo-load`).

mod apply;
pub mod plan;
pub mod rate;

use std::{collections::BTreeMap, fmt, future::Future, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use mysql_async::{Pool, PoolConstraints, PoolOpts, prelude::Queryable};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::{sync::Semaphore, task::JoinSet, time::Instant};

use self::{
    apply::Applied,
    plan::{Ending, Job, World},
};
pub use self::{plan::Kind, rate::Rate};
use super::{connect, pictures};

/// How, where and for how long to simulate.
#[derive(Clone, Debug)]
pub struct SimulateOptions {
    /// The stock app's URL (`stockapp` user).
    pub url: String,
    pub ca: Option<PathBuf>,
    pub seed: u64,
    pub rate: Rate,
    /// Stop after this long (counted from the first transaction's start).
    pub duration: Option<Duration>,
    /// Stop after starting this many transactions.
    pub count: Option<u64>,
    /// Transactions running at once; past it the schedule slips (and the summary says so).
    pub max_in_flight: usize,
}

/// Counts for one kind of transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub committed: u64,
    /// Transactions that failed once and were tried again (whatever the second try did).
    pub retried: u64,
    /// Transactions that failed twice and were given up.
    pub failed: u64,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub started: u64,
    pub by_kind: BTreeMap<Kind, KindCounts>,
    pub elapsed: Duration,
    /// Transactions started more than one interval after their slot.
    pub late: u64,
    /// The first few errors, for the log.
    pub errors: Vec<String>,
}

impl Summary {
    pub fn committed(&self) -> u64 {
        self.by_kind.values().map(|c| c.committed).sum()
    }

    pub fn retried(&self) -> u64 {
        self.by_kind.values().map(|c| c.retried).sum()
    }

    pub fn failed(&self) -> u64 {
        self.by_kind.values().map(|c| c.failed).sum()
    }

    fn record(&mut self, outcome: Outcome) {
        let counts = self.by_kind.entry(outcome.kind).or_default();
        counts.retried += u64::from(outcome.retried);
        match outcome.error {
            None => counts.committed += 1,
            Some(error) => {
                counts.failed += 1;
                if self.errors.len() < 5 {
                    self.errors
                        .push(format!("{}: {error}", outcome.kind.label()));
                }
            }
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "simulate: {} transactions in {:.1}s ({:.1}/s): {} committed, {} retried, {} failed, {} started late",
            self.started,
            secs,
            if secs > 0.0 {
                self.started as f64 / secs
            } else {
                0.0
            },
            self.committed(),
            self.retried(),
            self.failed(),
            self.late,
        )?;
        for (kind, counts) in &self.by_kind {
            write!(f, "  {:<24} {:>6}", kind.label(), counts.committed)?;
            if counts.retried > 0 || counts.failed > 0 {
                write!(
                    f,
                    "  ({} retried, {} failed)",
                    counts.retried, counts.failed
                )?;
            }
            writeln!(f)?;
        }
        for error in &self.errors {
            writeln!(f, "  error: {error}")?;
        }
        Ok(())
    }
}

/// How one transaction ended.
struct Outcome {
    kind: Kind,
    retried: bool,
    error: Option<String>,
}

/// Runs the simulation until the duration or count is reached or `shutdown` completes, then waits
/// for the transactions in flight. Fails only when it cannot start (no connection, no demo schema).
pub async fn run(
    options: SimulateOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    let opts = connect::opts(&options.url, options.ca.as_deref())?;
    let max = options.max_in_flight.max(1);
    let constraints = PoolConstraints::new(1, max).context("pool size")?;
    let opts = mysql_async::OptsBuilder::from_opts(opts)
        .pool_opts(PoolOpts::default().with_constraints(constraints));
    let pool = Pool::new(opts);
    let result = simulate(&pool, &options, max, shutdown).await;
    pool.disconnect()
        .await
        .context("closing the connection pool")?;
    result
}

async fn simulate(
    pool: &Pool,
    options: &SimulateOptions,
    max_in_flight: usize,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    let items: Vec<(u64, bool)> = pool
        .get_conn()
        .await
        .context("cannot connect to the legacy database")?
        .query("SELECT id, is_deleted FROM items ORDER BY id")
        .await
        .context("cannot read the items (is the demo data loaded? run demo-load)")?;
    let world = Arc::new(std::sync::Mutex::new(World::new(items)));
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut running = JoinSet::new();
    let mut summary = Summary::default();
    let interval = options.rate.interval();
    let start = Instant::now();
    tokio::pin!(shutdown);

    loop {
        if options.count.is_some_and(|count| summary.started >= count) {
            break;
        }
        let slot = start + interval.mul_f64(summary.started as f64);
        if options.duration.is_some_and(|d| slot >= start + d) {
            break;
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep_until(slot) => {}
        }
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => permit.context("semaphore closed")?,
        };
        if Instant::now() > slot + interval {
            summary.late += 1;
        }
        let job = world
            .lock()
            .map_err(|_| anyhow::anyhow!("world lock poisoned"))?
            .plan(&mut rng);
        let (pool, world) = (pool.clone(), world.clone());
        running.spawn(async move {
            let outcome = run_job(&pool, &world, job).await;
            drop(permit);
            outcome
        });
        summary.started += 1;
        while let Some(done) = running.try_join_next() {
            record(&mut summary, done);
        }
    }
    while let Some(done) = running.join_next().await {
        record(&mut summary, done);
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

fn record(summary: &mut Summary, done: Result<Outcome, tokio::task::JoinError>) {
    match done {
        Ok(outcome) => summary.record(outcome),
        // A task cannot panic by design; if one does, it counts as a failure of an unknown kind.
        Err(error) => summary.record(Outcome {
            kind: Kind::GoodsReceived,
            retried: false,
            error: Some(error.to_string()),
        }),
    }
}

/// Renders the job's picture (off the executor), runs the job, retries once, and tells the world.
async fn run_job(pool: &Pool, world: &std::sync::Mutex<World>, job: Job) -> Outcome {
    let planned = job.kind();
    let spec = match &job {
        Job::NewItem(new) => new.picture,
        Job::ImageReplaced { picture, .. } => *picture,
        _ => None,
    };
    let picture = match spec {
        None => Ok(None),
        Some(spec) => match tokio::task::spawn_blocking(move || pictures::render(&spec)).await {
            Ok(Ok(picture)) => Ok(Some(picture)),
            Ok(Err(error)) => Err(format!("drawing the picture: {error:#}")),
            Err(error) => Err(format!("drawing the picture: {error}")),
        },
    };
    let (result, retried) = match picture {
        Err(error) => (Err(error), false),
        Ok(picture) => match apply::apply(pool, &job, picture.as_ref()).await {
            Ok(applied) => (Ok(applied), false),
            Err(first) => {
                eprintln!(
                    "simulate: {} failed, retrying once: {first}",
                    planned.label()
                );
                (
                    apply::apply(pool, &job, picture.as_ref())
                        .await
                        .map_err(|e| e.to_string()),
                    true,
                )
            }
        },
    };
    let (ending, outcome) = match result {
        Ok(Applied {
            kind,
            new_id,
            saved,
        }) => (
            Ending::Committed { new_id, saved },
            Outcome {
                kind,
                retried,
                error: None,
            },
        ),
        Err(error) => {
            eprintln!("simulate: {} failed: {error}", planned.label());
            (
                Ending::Failed,
                Outcome {
                    kind: planned,
                    retried,
                    error: Some(error),
                },
            )
        }
    };
    if let Ok(mut world) = world.lock() {
        world.finish(job, ending);
    }
    outcome
}
