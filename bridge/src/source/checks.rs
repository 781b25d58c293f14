//! Start-up checks of the source: what the bridge needs from the legacy server's configuration and
//! from its own user. Each failure is one line saying what to set (and the RDS parameter-group
//! equivalent) and has its own exit code, so an operator or a deployment script can tell them apart.

use crate::config::{Flavour, ResumeMode};
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
    #[error(
        "source.flavour is {setting}, but the server is {server}: set source.flavour = {wanted}"
    )]
    WrongFlavour {
        setting: &'static str,
        server: String,
        wanted: &'static str,
    },
    #[error(
        "gtid_mode is {0}: set gtid_mode=ON and enforce_gtid_consistency=ON (RDS: parameter group gtid-mode = ON, enforce_gtid_consistency = ON), or resume by position (source.resume = position)"
    )]
    GtidModeOff(String),
    #[error(
        "binlog_transaction_compression is ON: set binlog_transaction_compression=OFF (RDS: parameter group binlog_transaction_compression = 0); the events inside a compressed transaction carry no binlog positions to checkpoint"
    )]
    CompressedTransactions,
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
            Self::WrongFlavour { .. } => 18,
            Self::GtidModeOff(_) => 19,
            Self::CompressedTransactions => 20,
        }
    }
}

/// What the checks read off the source.
#[derive(Debug, Clone)]
struct Settings {
    version: String,
    log_bin: bool,
    format: String,
    image: String,
    metadata: Option<String>,
    /// MySQL's `gtid_mode` (MariaDB always has GTIDs).
    gtid_mode: Option<String>,
    /// MySQL's `binlog_transaction_compression` (1 = on).
    compression: bool,
}

/// Reads the server's global settings and the user's grants; the first problem found is returned.
pub async fn check(
    conn: &mut mysql_async::Conn,
    flavour: Flavour,
    resume: ResumeMode,
) -> anyhow::Result<Result<(), SourceProblem>> {
    let version: Option<String> = conn.query_first("SELECT @@version").await?;
    let version = version.unwrap_or_default();
    // MariaDB before 10.5 has no binlog_row_metadata: read through information_schema, where an
    // unknown variable is no row rather than an error. MySQL 8 moved that table away but always
    // has the variable.
    let metadata = if super::is_mariadb(&version) {
        "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'BINLOG_ROW_METADATA')"
    } else {
        "@@global.binlog_row_metadata"
    };
    let row: Option<(u8, String, String, Option<String>)> = conn
        .query_first(format!(
            "SELECT @@global.log_bin, @@global.binlog_format, @@global.binlog_row_image, {metadata}"
        ))
        .await?;
    let Some((log_bin, format, image, metadata)) = row else {
        return Ok(Err(SourceProblem::BinlogOff));
    };
    let (gtid_mode, compression): (Option<String>, bool) = if super::is_mariadb(&version) {
        (None, false)
    } else {
        let row: Option<(String, u8)> = conn
            .query_first("SELECT @@global.gtid_mode, @@global.binlog_transaction_compression")
            .await?;
        row.map_or((None, false), |(mode, compressed)| {
            (Some(mode), compressed == 1)
        })
    };
    let grants: Vec<String> = conn.query("SHOW GRANTS").await?;
    let settings = Settings {
        version,
        log_bin: log_bin == 1,
        format,
        image,
        metadata,
        gtid_mode,
        compression,
    };
    Ok(judge(&settings, flavour, resume, &grants))
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
    mode: ResumeMode,
) -> anyhow::Result<Result<Resume, SourceProblem>> {
    let current = super::server_identity(conn).await?;
    if let Err(problem) = judge_server(recorded_server, &current, mode) {
        return Ok(Err(problem));
    }
    // What the source has written (MariaDB: the latest per domain; MySQL: the set of every
    // transaction) and, on MySQL, what it no longer keeps.
    let (source_gtid, purged): (Option<String>, Option<String>) = if super::is_mariadb(&current) {
        let pos: Option<String> = conn.query_first("SELECT @@global.gtid_binlog_pos").await?;
        (pos, None)
    } else {
        conn.query_first("SELECT @@global.gtid_executed, @@global.gtid_purged")
            .await?
            .unwrap_or_default()
    };
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
        purged.as_deref(),
        &logs,
        mode,
    ))
}

fn judge_resume(
    checkpoint: &super::Position,
    source_gtid: Option<&str>,
    purged: Option<&str>,
    logs: &[(String, u64)],
    mode: ResumeMode,
) -> Result<Resume, SourceProblem> {
    use super::gtid::GtidState;
    if let Some(ours) = checkpoint.gtid.as_deref() {
        let theirs = GtidState::parse(source_gtid);
        let ours_state = GtidState::parse(Some(ours));
        if let Some(place) = ours_state.ahead_of(&theirs) {
            return Err(SourceProblem::DifferentSource(format!(
                "its GTID position {} is behind the checkpoint's {ours} in {place}",
                source_gtid.unwrap_or("(none)")
            )));
        }
        // MySQL: a transaction the checkpoint lacks that the source has purged can never be
        // streamed again.
        if mode == ResumeMode::Gtid
            && let Some(place) = GtidState::parse(purged).ahead_of(&ours_state)
        {
            return Ok(Resume::Purged(format!(
                "the source has purged transactions of {place} the checkpoint lacks (gtid_purged {})",
                purged.unwrap_or_default().replace('\n', "")
            )));
        }
    }
    if mode == ResumeMode::Position {
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
    mode: ResumeMode,
) -> Result<(), SourceProblem> {
    let server_id = |identity: &str| identity.split_whitespace().next().map(str::to_owned);
    match recorded {
        Some(recorded)
            if mode == ResumeMode::Position
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
    settings: &Settings,
    flavour: Flavour,
    resume: ResumeMode,
    grants: &[String],
) -> Result<(), SourceProblem> {
    let mariadb = super::is_mariadb(&settings.version);
    if mariadb != (flavour == Flavour::Mariadb) {
        let (setting, wanted) = match flavour {
            Flavour::Mariadb => ("mariadb", "mysql8"),
            Flavour::Mysql8 => ("mysql8", "mariadb"),
        };
        return Err(SourceProblem::WrongFlavour {
            setting,
            server: settings.version.clone(),
            wanted,
        });
    }
    if !settings.log_bin {
        return Err(SourceProblem::BinlogOff);
    }
    if !settings.format.eq_ignore_ascii_case("ROW") {
        return Err(SourceProblem::FormatNotRow(settings.format.clone()));
    }
    if !settings.image.eq_ignore_ascii_case("FULL") {
        return Err(SourceProblem::ImageNotFull(settings.image.clone()));
    }
    let metadata = settings
        .metadata
        .as_deref()
        .unwrap_or("absent (server too old)");
    if !metadata.eq_ignore_ascii_case("FULL") {
        return Err(SourceProblem::MetadataNotFull(metadata.to_owned()));
    }
    if let Some(mode) = &settings.gtid_mode
        && resume == ResumeMode::Gtid
        && !mode.eq_ignore_ascii_case("ON")
    {
        return Err(SourceProblem::GtidModeOff(mode.clone()));
    }
    if settings.compression {
        return Err(SourceProblem::CompressedTransactions);
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
        use ResumeMode::{Gtid, Position};
        let logs = vec![
            ("binlog.000002".to_owned(), 5000),
            ("binlog.000003".to_owned(), 900),
        ];
        let ours = at("binlog.000002", 4000, Some("0-1-50"));
        assert_eq!(
            judge_resume(&ours, Some("0-1-60"), None, &logs, Gtid),
            Ok(Resume::Yes)
        );
        assert_eq!(
            judge_resume(&ours, Some("0-1-60"), None, &logs, Position),
            Ok(Resume::Yes)
        );
        let fresh = judge_resume(&ours, Some("0-1-3"), None, &logs, Gtid).unwrap_err();
        assert_eq!(fresh.exit_code(), 16);
        assert!(
            fresh.to_string().contains("behind the checkpoint"),
            "{fresh}"
        );
        assert!(
            judge_resume(&ours, None, None, &logs, Gtid).is_err(),
            "a source with no GTIDs at all is not ours"
        );
        let short = judge_resume(
            &at("binlog.000003", 4000, None),
            None,
            None,
            &logs,
            Position,
        )
        .unwrap_err();
        assert!(short.to_string().contains("shorter"), "{short}");
        let unknown =
            judge_resume(&at("binlog.000009", 4, None), None, None, &logs, Position).unwrap_err();
        assert!(unknown.to_string().contains("no binlog named"), "{unknown}");
        assert!(matches!(
            judge_resume(&at("binlog.000001", 4, None), None, None, &logs, Position),
            Ok(Resume::Purged(_))
        ));
    }

    #[test]
    fn positions_are_refused_on_another_server_but_gtids_follow_a_failover() {
        use ResumeMode::{Gtid, Position};
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

    const MARIADB: &str = "10.11.6-MariaDB-log";
    const MYSQL: &str = "8.0.39";
    const MYSQL_GRANT: &str = "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `cdc`@`%`";

    /// A well-configured source of `version`.
    fn source(version: &str) -> Settings {
        Settings {
            version: version.into(),
            log_bin: true,
            format: "ROW".into(),
            image: "FULL".into(),
            metadata: Some("FULL".into()),
            gtid_mode: (!crate::source::is_mariadb(version)).then(|| "ON".into()),
            compression: false,
        }
    }

    fn maria(change: impl FnOnce(&mut Settings), grants_: &[&str]) -> Result<(), SourceProblem> {
        let mut settings = source(MARIADB);
        change(&mut settings);
        judge(
            &settings,
            Flavour::Mariadb,
            ResumeMode::Gtid,
            &grants(grants_),
        )
    }

    #[test]
    fn a_well_configured_source_passes() {
        assert_eq!(maria(|_| {}, &[GOOD]), Ok(()));
        assert_eq!(maria(|_| {}, &[MYSQL_GRANT]), Ok(()));
        for version in [MYSQL, "8.4.3", "8.0.36-rds"] {
            for resume in [ResumeMode::Gtid, ResumeMode::Position] {
                let settings = source(version);
                assert_eq!(
                    judge(&settings, Flavour::Mysql8, resume, &grants(&[MYSQL_GRANT])),
                    Ok(()),
                    "{version}"
                );
            }
        }
    }

    #[test]
    fn each_problem_has_its_own_code_and_advice() {
        let cases = [
            (maria(|s| s.log_bin = false, &[GOOD]), 10, "log_bin"),
            (
                maria(|s| s.format = "MIXED".into(), &[GOOD]),
                11,
                "binlog_format=ROW",
            ),
            (
                maria(|s| s.image = "MINIMAL".into(), &[GOOD]),
                12,
                "binlog_row_image=FULL",
            ),
            (
                maria(|s| s.metadata = Some("NO_LOG".into()), &[GOOD]),
                13,
                "binlog_row_metadata=FULL",
            ),
            (
                maria(|s| s.metadata = None, &[GOOD]),
                13,
                "binlog_row_metadata=FULL",
            ),
            (
                maria(|_| {}, &["GRANT SELECT ON `legacy`.* TO `b`@`%`"]),
                14,
                "REPLICATION SLAVE",
            ),
            (
                maria(|_| {}, &["GRANT REPLICATION SLAVE ON *.* TO `b`@`%`"]),
                14,
                "REPLICATION CLIENT",
            ),
            (
                judge(
                    &Settings {
                        gtid_mode: Some("OFF_PERMISSIVE".into()),
                        ..source(MYSQL)
                    },
                    Flavour::Mysql8,
                    ResumeMode::Gtid,
                    &grants(&[MYSQL_GRANT]),
                ),
                19,
                "gtid_mode=ON",
            ),
            (
                judge(
                    &Settings {
                        compression: true,
                        ..source(MYSQL)
                    },
                    Flavour::Mysql8,
                    ResumeMode::Position,
                    &grants(&[MYSQL_GRANT]),
                ),
                20,
                "binlog_transaction_compression=OFF",
            ),
        ];
        for (result, code, advice) in cases {
            let problem = result.unwrap_err();
            assert_eq!(problem.exit_code(), code, "{problem}");
            assert!(problem.to_string().contains(advice), "{problem}");
            assert!(problem.to_string().contains("RDS"), "{problem}");
        }
    }

    #[test]
    fn a_source_of_the_other_flavour_is_named() {
        let mysql_as_maria = judge(
            &source(MYSQL),
            Flavour::Mariadb,
            ResumeMode::Gtid,
            &grants(&[MYSQL_GRANT]),
        )
        .unwrap_err();
        assert_eq!(mysql_as_maria.exit_code(), 18);
        assert_eq!(
            mysql_as_maria.to_string(),
            "source.flavour is mariadb, but the server is 8.0.39: set source.flavour = mysql8"
        );
        let maria_as_mysql = judge(
            &source(MARIADB),
            Flavour::Mysql8,
            ResumeMode::Gtid,
            &grants(&[GOOD]),
        )
        .unwrap_err();
        assert!(
            maria_as_mysql
                .to_string()
                .ends_with("set source.flavour = mariadb"),
            "{maria_as_mysql}"
        );
    }

    #[test]
    fn mysql_resumes_by_gtid_set_unless_the_source_purged_what_is_missing() {
        const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let logs = vec![("binlog.000007".to_owned(), 5000)];
        let ours = at("binlog.000007", 4000, Some(&format!("{A}:1-100")));
        let executed = format!("{A}:1-150");
        assert_eq!(
            judge_resume(
                &ours,
                Some(&executed),
                Some(&format!("{A}:1-90")),
                &logs,
                ResumeMode::Gtid
            ),
            Ok(Resume::Yes)
        );
        assert!(matches!(
            judge_resume(&ours, Some(&executed), Some(&format!("{A}:1-120")), &logs, ResumeMode::Gtid),
            Ok(Resume::Purged(why)) if why.contains("purged")
        ));
        let fresh = judge_resume(
            &ours,
            Some("9e11fa47-71ca-11e1-9e33-c80aa9429562:1-400"),
            Some(""),
            &logs,
            ResumeMode::Gtid,
        )
        .unwrap_err();
        assert_eq!(fresh.exit_code(), 16);
        assert!(
            fresh.to_string().contains(&format!("source {A}")),
            "{fresh}"
        );
    }
}
