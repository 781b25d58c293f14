//! Start-up checks of the source: what the bridge needs from the legacy server's configuration and
//! from its own user. Each failure is one line saying what to set (and the RDS parameter-group
//! equivalent) and has its own exit code, so an operator or a deployment script can tell them apart.

use mysql_async::prelude::Queryable;

/// A configuration the bridge cannot work with. The exit code is stable: scripts may rely on it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceProblem {
    #[error(
        "the legacy database has binary logging off: start it with log_bin (RDS: turn on automated backups, retention ≥ 1 day)"
    )]
    BinlogOff,
    #[error(
        "binlog_format is {0}: set binlog_format=ROW (RDS: parameter group binlog_format = ROW)"
    )]
    FormatNotRow(String),
    #[error(
        "binlog_row_image is {0}: set binlog_row_image=FULL (RDS: parameter group binlog_row_image = full)"
    )]
    ImageNotFull(String),
    #[error(
        "binlog_row_metadata is {0}: set binlog_row_metadata=FULL so row events carry column names (RDS: parameter group binlog_row_metadata = full)"
    )]
    MetadataNotFull(String),
    #[error(
        "the bridge's user lacks {0}: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO <bridge user> (same on RDS)"
    )]
    MissingGrant(&'static str),
    #[error("the mapping does not fit the source: {0}")]
    Mapping(String),
    #[error(
        "the source is not the server the checkpoint came from ({0}); refusing to resume. If the legacy database was really replaced, delete the checkpoint row (stock.checkpoint) to take a fresh snapshot"
    )]
    DifferentSource(String),
}

impl SourceProblem {
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::BinlogOff => 10,
            Self::FormatNotRow(_) => 11,
            Self::ImageNotFull(_) => 12,
            Self::MetadataNotFull(_) => 13,
            Self::MissingGrant(_) => 14,
            Self::Mapping(_) => 15,
            Self::DifferentSource(_) => 16,
        }
    }
}

/// Reads the server's global settings and the user's grants; the first problem found is returned.
pub async fn check(conn: &mut mysql_async::Conn) -> anyhow::Result<Result<(), SourceProblem>> {
    let row: Option<(u8, String, String, Option<String>)> = conn
        .query_first(
            "SELECT @@global.log_bin, @@global.binlog_format, @@global.binlog_row_image, \
             (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'BINLOG_ROW_METADATA')",
        )
        .await?;
    let Some((log_bin, format, image, metadata)) = row else {
        return Ok(Err(SourceProblem::BinlogOff));
    };
    let grants: Vec<String> = conn.query("SHOW GRANTS").await?;
    Ok(judge(
        log_bin == 1,
        &format,
        &image,
        metadata.as_deref(),
        &grants,
    ))
}

/// Whether the bridge may resume from `checkpoint` on this source.
#[derive(Debug, PartialEq, Eq)]
pub enum Resume {
    /// The source still has the checkpoint's position.
    Yes,
    /// The binlog at the checkpoint has been purged: only a fresh snapshot can continue.
    Purged(String),
}

/// Checks the checkpoint against the source before resuming: a source whose GTID state is behind
/// the checkpoint (a fresh data directory, a restore) is a different server and is refused; a
/// checkpoint file older than every binlog the source keeps has been purged.
pub async fn check_resume(
    conn: &mut mysql_async::Conn,
    checkpoint: &super::Position,
    recorded_server: Option<&str>,
    mode: crate::config::ResumeMode,
) -> anyhow::Result<Result<Resume, SourceProblem>> {
    let current = super::server_identity(conn).await?;
    if let Err(problem) = judge_server(recorded_server, &current, mode) {
        return Ok(Err(problem));
    }
    let source_gtid: Option<String> = conn.query_first("SELECT @@global.gtid_binlog_pos").await?;
    let logs: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await?;
    let logs: Vec<(String, u64)> = logs
        .into_iter()
        .filter_map(|row| {
            Some((
                row.get_opt::<String, _>(0)?.ok()?,
                row.get_opt::<u64, _>(1)?.ok()?,
            ))
        })
        .collect();
    Ok(judge_resume(
        checkpoint,
        source_gtid.as_deref(),
        &logs,
        mode,
    ))
}

fn judge_resume(
    checkpoint: &super::Position,
    source_gtid: Option<&str>,
    logs: &[(String, u64)],
    mode: crate::config::ResumeMode,
) -> Result<Resume, SourceProblem> {
    use super::binlog::GtidState;
    if let Some(ours) = checkpoint.gtid.as_deref() {
        let theirs = GtidState::parse(source_gtid);
        if let Some(domain) = GtidState::parse(Some(ours)).ahead_of(&theirs) {
            return Err(SourceProblem::DifferentSource(format!(
                "its GTID position {} is behind the checkpoint's {ours} in domain {domain}",
                source_gtid.unwrap_or("(none)")
            )));
        }
    }
    if mode == crate::config::ResumeMode::Position {
        match logs.iter().find(|(name, _)| *name == checkpoint.file) {
            Some((_, size)) if *size < checkpoint.pos => {
                return Err(SourceProblem::DifferentSource(format!(
                    "its {} is {size} bytes, shorter than the checkpoint's offset {}",
                    checkpoint.file, checkpoint.pos
                )));
            }
            Some(_) => {}
            None if logs
                .first()
                .is_some_and(|(first, _)| checkpoint.file < *first) =>
            {
                return Ok(Resume::Purged(format!(
                    "{} is older than the oldest binlog kept ({})",
                    checkpoint.file, logs[0].0
                )));
            }
            None => {
                return Err(SourceProblem::DifferentSource(format!(
                    "it has no binlog named {}",
                    checkpoint.file
                )));
            }
        }
    }
    Ok(Resume::Yes)
}

/// A binlog file and offset mean something on the server that wrote them only: in position mode
/// another server (by `@@server_id`) is refused, even with a binlog of the same name — a promoted
/// replica writes its own. By GTID, a failover to a replica of the same domain is followed.
fn judge_server(
    recorded: Option<&str>,
    current: &str,
    mode: crate::config::ResumeMode,
) -> Result<(), SourceProblem> {
    let server_id = |identity: &str| identity.split_whitespace().next().map(str::to_owned);
    match recorded {
        Some(recorded)
            if mode == crate::config::ResumeMode::Position
                && !recorded.is_empty()
                && server_id(recorded) != server_id(current) =>
        {
            Err(SourceProblem::DifferentSource(format!(
                "it is {}, but the checkpoint's binlog positions are {}'s (positions are per server; \
                 set source.resume = gtid to follow a failover)",
                server_id(current).unwrap_or_default(),
                server_id(recorded).unwrap_or_default()
            )))
        }
        _ => Ok(()),
    }
}

/// The decision, apart from the I/O so it is unit-tested.
fn judge(
    log_bin: bool,
    format: &str,
    image: &str,
    metadata: Option<&str>,
    grants: &[String],
) -> Result<(), SourceProblem> {
    if !log_bin {
        return Err(SourceProblem::BinlogOff);
    }
    if !format.eq_ignore_ascii_case("ROW") {
        return Err(SourceProblem::FormatNotRow(format.to_owned()));
    }
    if !image.eq_ignore_ascii_case("FULL") {
        return Err(SourceProblem::ImageNotFull(image.to_owned()));
    }
    let metadata = metadata.unwrap_or("absent (server too old)");
    if !metadata.eq_ignore_ascii_case("FULL") {
        return Err(SourceProblem::MetadataNotFull(metadata.to_owned()));
    }
    let global: Vec<String> = grants
        .iter()
        .filter(|g| g.contains(" ON *.* "))
        .map(|g| g.to_ascii_uppercase())
        .collect();
    let has = |names: &[&str]| {
        global
            .iter()
            .any(|g| g.contains("ALL PRIVILEGES") || names.iter().any(|n| g.contains(n)))
    };
    if !has(&["REPLICATION SLAVE"]) {
        return Err(SourceProblem::MissingGrant("REPLICATION SLAVE"));
    }
    // MariaDB ≥ 10.5 shows REPLICATION CLIENT as BINLOG MONITOR.
    if !has(&["REPLICATION CLIENT", "BINLOG MONITOR"]) {
        return Err(SourceProblem::MissingGrant("REPLICATION CLIENT"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| (*l).to_owned()).collect()
    }

    const GOOD: &str = "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `bridge`@`127.0.0.1`";

    fn at(file: &str, pos: u64, gtid: Option<&str>) -> crate::source::Position {
        crate::source::Position {
            file: file.into(),
            pos,
            gtid: gtid.map(Into::into),
        }
    }

    #[test]
    fn resuming_is_refused_on_a_source_behind_the_checkpoint() {
        use crate::config::ResumeMode::{Gtid, Position};
        let logs = vec![
            ("binlog.000002".to_owned(), 5000),
            ("binlog.000003".to_owned(), 900),
        ];
        let ours = at("binlog.000002", 4000, Some("0-1-50"));
        assert_eq!(
            judge_resume(&ours, Some("0-1-60"), &logs, Gtid),
            Ok(Resume::Yes)
        );
        assert_eq!(
            judge_resume(&ours, Some("0-1-60"), &logs, Position),
            Ok(Resume::Yes)
        );
        let fresh = judge_resume(&ours, Some("0-1-3"), &logs, Gtid).unwrap_err();
        assert_eq!(fresh.exit_code(), 16);
        assert!(
            fresh.to_string().contains("behind the checkpoint"),
            "{fresh}"
        );
        assert!(
            judge_resume(&ours, None, &logs, Gtid).is_err(),
            "a source with no GTIDs at all is not ours"
        );
        let short =
            judge_resume(&at("binlog.000003", 4000, None), None, &logs, Position).unwrap_err();
        assert!(short.to_string().contains("shorter"), "{short}");
        let unknown =
            judge_resume(&at("binlog.000009", 4, None), None, &logs, Position).unwrap_err();
        assert!(unknown.to_string().contains("no binlog named"), "{unknown}");
        assert!(matches!(
            judge_resume(&at("binlog.000001", 4, None), None, &logs, Position),
            Ok(Resume::Purged(_))
        ));
    }

    #[test]
    fn positions_are_refused_on_another_server_but_gtids_follow_a_failover() {
        use crate::config::ResumeMode::{Gtid, Position};
        let old = "server_id=1 version=10.11.6-MariaDB-log";
        let promoted = "server_id=2 version=10.11.6-MariaDB-log";
        let upgraded = "server_id=1 version=10.11.9-MariaDB-log";
        let refused = judge_server(Some(old), promoted, Position).unwrap_err();
        assert_eq!(refused.exit_code(), 16);
        assert!(
            refused.to_string().contains("source.resume = gtid"),
            "{refused}"
        );
        assert_eq!(judge_server(Some(old), promoted, Gtid), Ok(()));
        assert_eq!(judge_server(Some(old), upgraded, Position), Ok(()));
        assert_eq!(judge_server(None, promoted, Position), Ok(()));
        assert_eq!(judge_server(Some(""), promoted, Position), Ok(()));
    }

    #[test]
    fn a_well_configured_source_passes() {
        assert_eq!(
            judge(true, "ROW", "FULL", Some("FULL"), &grants(&[GOOD])),
            Ok(())
        );
        let mysql = "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `cdc`@`%`";
        assert_eq!(
            judge(true, "ROW", "FULL", Some("FULL"), &grants(&[mysql])),
            Ok(())
        );
    }

    #[test]
    fn each_problem_has_its_own_code_and_advice() {
        let cases = [
            (
                judge(false, "ROW", "FULL", Some("FULL"), &grants(&[GOOD])),
                10,
                "log_bin",
            ),
            (
                judge(true, "MIXED", "FULL", Some("FULL"), &grants(&[GOOD])),
                11,
                "binlog_format=ROW",
            ),
            (
                judge(true, "ROW", "MINIMAL", Some("FULL"), &grants(&[GOOD])),
                12,
                "binlog_row_image=FULL",
            ),
            (
                judge(true, "ROW", "FULL", Some("NO_LOG"), &grants(&[GOOD])),
                13,
                "binlog_row_metadata=FULL",
            ),
            (
                judge(true, "ROW", "FULL", None, &grants(&[GOOD])),
                13,
                "binlog_row_metadata=FULL",
            ),
            (
                judge(
                    true,
                    "ROW",
                    "FULL",
                    Some("FULL"),
                    &grants(&["GRANT SELECT ON `legacy`.* TO `b`@`%`"]),
                ),
                14,
                "REPLICATION SLAVE",
            ),
            (
                judge(
                    true,
                    "ROW",
                    "FULL",
                    Some("FULL"),
                    &grants(&["GRANT REPLICATION SLAVE ON *.* TO `b`@`%`"]),
                ),
                14,
                "REPLICATION CLIENT",
            ),
        ];
        for (result, code, advice) in cases {
            let problem = result.unwrap_err();
            assert_eq!(problem.exit_code(), code, "{problem}");
            assert!(problem.to_string().contains(advice), "{problem}");
            assert!(problem.to_string().contains("RDS"), "{problem}");
        }
    }
}
