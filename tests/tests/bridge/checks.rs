//! Start-up checks: each misconfiguration of the source is one line saying what to set, with its
//! own exit code. Run against scratch MariaDB servers, never the shared one.

use tests::scratch_mariadb::ScratchMariaDb;
use tests::stack::{ShopDatabase, bin};

const DEMO_MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bridge/mappings/demo.toml");

/// Runs `bridge run` against `source_url`, into a fresh shop database of its own (never the stack's,
/// whose replica another bridge has loaded), until it exits; returns (exit code, stderr).
async fn run_bridge(source_url: &str) -> (i32, String) {
    let db = ShopDatabase::create().await.unwrap();
    let out = tokio::process::Command::new(bin("bridge"))
        .arg("run")
        .env("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0")
        .env("FUNNYHAT_SOURCE__URL", source_url)
        .env("FUNNYHAT_SOURCE__FLAVOUR", "mariadb")
        .env("FUNNYHAT_SOURCE__SERVER_ID", "77")
        .env("FUNNYHAT_SOURCE__MAPPING", DEMO_MAPPING)
        .env("FUNNYHAT_TARGET__URL", db.url("bridge"))
        .env("FUNNYHAT_LOG__FORMAT", "json")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
        .await
        .expect("the bridge exits")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An empty `legacy` schema and a bridge user with the right grants; returns its URL.
async fn empty_legacy_schema(server: &ScratchMariaDb) -> String {
    let mut root = server.root().await.unwrap();
    mysql_async::prelude::Queryable::query_drop(&mut root, "CREATE DATABASE legacy")
        .await
        .unwrap();
    server
        .create_user(
            "bridge",
            "bridge-dev",
            &tests::scratch_mariadb::BRIDGE_GRANTS,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn each_source_misconfiguration_is_named_with_its_exit_code() {
    let server = ScratchMariaDb::start(&tests::scratch_mariadb::ROW_BINLOG)
        .await
        .unwrap();
    let url = empty_legacy_schema(&server).await;
    let set = |sql: &'static str| {
        let server = &server;
        async move {
            let mut root = server.root().await.unwrap();
            mysql_async::prelude::Queryable::query_drop(&mut root, sql)
                .await
                .unwrap();
        }
    };

    let cases: [(&str, &str, i32, &str); 3] = [
        (
            "SET GLOBAL binlog_format = 'STATEMENT'",
            "SET GLOBAL binlog_format = 'ROW'",
            11,
            "set binlog_format=ROW",
        ),
        (
            "SET GLOBAL binlog_row_image = 'MINIMAL'",
            "SET GLOBAL binlog_row_image = 'FULL'",
            12,
            "set binlog_row_image=FULL",
        ),
        (
            "SET GLOBAL binlog_row_metadata = 'MINIMAL'",
            "SET GLOBAL binlog_row_metadata = 'FULL'",
            13,
            "set binlog_row_metadata=FULL",
        ),
    ];
    for (break_it, mend_it, code, advice) in cases {
        set(break_it).await;
        let (exit, stderr) = run_bridge(&url).await;
        assert_eq!(exit, code, "{break_it}: {stderr}");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("bridge: ") && l.contains(advice) && l.contains("RDS")),
            "{break_it}: {stderr}"
        );
        set(mend_it).await;
    }

    // Without REPLICATION CLIENT (shown as BINLOG MONITOR on MariaDB).
    let weak = server
        .create_user(
            "weak",
            "weak-dev",
            &[
                "GRANT REPLICATION SLAVE ON *.* TO {user}",
                "GRANT SELECT ON legacy.* TO {user}",
            ],
        )
        .await
        .unwrap();
    let (exit, stderr) = run_bridge(&weak).await;
    assert_eq!(exit, 14, "{stderr}");
    assert!(stderr.contains("lacks REPLICATION CLIENT"), "{stderr}");

    // All settings right, but the mapped tables are missing: the mapping check names them.
    let (exit, stderr) = run_bridge(&url).await;
    assert_eq!(exit, 15, "{stderr}");
    assert!(
        stderr.contains("table legacy.items does not exist"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("bridge-dev"),
        "a password leaked: {stderr}"
    );
}

#[tokio::test]
async fn binary_logging_off_is_named_with_its_exit_code() {
    let server = ScratchMariaDb::start(&[]).await.unwrap();
    let url = empty_legacy_schema(&server).await;
    let (exit, stderr) = run_bridge(&url).await;
    assert_eq!(exit, 10, "{stderr}");
    assert!(
        stderr.contains("binary logging off") && stderr.contains("log_bin"),
        "{stderr}"
    );
}
