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
