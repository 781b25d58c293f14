//! Crash points, for the exactly-once tests: with `BRIDGE_CRASH_AT=point:n` (a test switch, not
//! a setting: it is outside the `FUNNYHAT_` settings) the process aborts — no destructor runs,
//! nothing is flushed or rolled back by the bridge, as with `kill -9` — the n-th time it reaches
//! `point`. The points are the moments a random kill rarely hits: inside an open PostgreSQL
//! transaction with a batch applied but not committed, and just after a commit before the bridge
//! has taken note of it. Unset (production), a point costs one load of a value read once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms a crash point.
pub const VARIABLE: &str = "BRIDGE_CRASH_AT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// A batch's changes and recomputes are applied in the open transaction; the change log and
    /// the checkpoint are not yet written.
    MidBatch,
    /// The batch's transaction has committed; its metrics are not counted, nothing else was read.
    AfterCommit,
    /// A part of a large source transaction is applied in its open transaction; more parts follow.
    MidLargeTransaction,
    /// A batch applied in lanes: the first lane has committed (its transactions ahead of the
    /// checkpoint), the last has not.
    BetweenLanes,
}

impl Point {
    const ALL: [Self; 4] = [
        Self::MidBatch,
        Self::AfterCommit,
        Self::MidLargeTransaction,
        Self::BetweenLanes,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::MidBatch => "mid-batch",
            Self::AfterCommit => "after-commit",
            Self::MidLargeTransaction => "mid-large-transaction",
            Self::BetweenLanes => "between-lanes",
        }
    }
}

#[derive(Debug)]
struct Armed {
    point: Point,
    /// The passage (1-based) that aborts.
    at: u64,
    passed: AtomicU64,
}

fn parse(text: &str) -> Result<Armed, String> {
    let (name, at) = text
        .split_once(':')
        .ok_or_else(|| format!("{VARIABLE} = {text:?}: expected point:n, e.g. after-commit:3"))?;
    let point = Point::ALL
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Point::ALL.iter().map(|p| p.name()).collect();
            format!(
                "{VARIABLE}: unknown point {name:?} (one of {})",
                names.join(", ")
            )
        })?;
    let at = at
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{VARIABLE}: {at:?} is not a count from 1"))?;
    Ok(Armed {
        point,
        at,
        passed: AtomicU64::new(0),
    })
}

fn armed() -> &'static Result<Option<Armed>, String> {
    static ARMED: OnceLock<Result<Option<Armed>, String>> = OnceLock::new();
    ARMED.get_or_init(|| match std::env::var(VARIABLE) {
        Ok(text) => parse(&text).map(Some),
        Err(_) => Ok(None),
    })
}

/// At start-up: a malformed setting is an error, not a crash point that never fires.
pub fn check() -> anyhow::Result<()> {
    match armed() {
        Ok(Some(a)) => {
            tracing::warn!(
                point = a.point.name(),
                at = a.at,
                "crash point armed (tests only)"
            );
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Aborts the process here if this is the armed point's n-th passage.
pub fn reach(point: Point) {
    if let Ok(Some(a)) = armed()
        && a.point == point
        && a.passed.fetch_add(1, Ordering::Relaxed) + 1 == a.at
    {
        tracing::warn!(point = point.name(), "crash point reached: aborting");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_or_refused_with_the_reason() {
        let armed = parse("after-commit:3").unwrap();
        assert_eq!((armed.point, armed.at), (Point::AfterCommit, 3));
        assert!(parse("mid-batch").unwrap_err().contains("expected point:n"));
        assert!(
            parse("sideways:1")
                .unwrap_err()
                .contains("unknown point \"sideways\"")
        );
        assert!(
            parse("mid-batch:0")
                .unwrap_err()
                .contains("not a count from 1")
        );
    }
}
