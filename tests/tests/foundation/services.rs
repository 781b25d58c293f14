//! The bridge and shop binaries as an operator meets them: settings errors, health and metrics on
//! the admin listener only, clean shutdown, `shop migrate`.

use std::time::Duration;
use tests::stack::{Running, ShopDatabase, bin, env};

const START: Duration = Duration::from_secs(30);

/// The demo legacy database's mapping file.
const DEMO_MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bridge/mappings/demo.toml");

/// Runs a binary to completion and returns (exit code, stdout, stderr).
fn run_to_end(program: &str, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(bin(program))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn settings_file(contents: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), contents).unwrap();
    file
}

const SHOP_SETTINGS: &str = r#"
[http]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1"
[admin]
listen = "127.0.0.1:0"
[database]
url = "postgres://shop:hunter2-secret@127.0.0.1:1/funnyhat"
[media]
base_url = "http://127.0.0.1:1/media"
"#;

/// One line on stderr, exit code 2, and what the line must say.
fn assert_settings_error(program: &str, args: &[&str], must_mention: &[&str]) {
    let (code, _, stderr) = run_to_end(program, args, &[]);
    assert_eq!(
        code, 2,
        "{program} {args:?} should exit 2; stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line, got: {stderr}");
    for needle in must_mention {
        assert!(
            lines[0].contains(needle),
            "{:?} should mention {needle:?}",
            lines[0]
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "a secret leaked: {stderr}");
}

#[test]
fn a_missing_settings_file_is_one_clear_line_and_exit_2() {
    for program in ["shop", "bridge"] {
        let cmd = if program == "shop" { "serve" } else { "run" };
        assert_settings_error(
            program,
            &["--config", "/nonexistent/funnyhat.toml", cmd],
            &["/nonexistent/funnyhat.toml"],
        );
    }
}

#[test]
fn a_malformed_settings_file_names_file_and_line_without_echoing_it() {
    let file =
        settings_file("[http]\nlisten = \"127.0.0.1:0\"\npassword = \"hunter2-secret\n[admin]\n");
    let path = file.path().to_str().unwrap();
    assert_settings_error("shop", &["--config", path, "serve"], &[path, "line 3"]);
    assert_settings_error("bridge", &["--config", path, "run"], &[path, "line 3"]);
}

#[test]
fn an_unknown_key_is_named_with_its_file() {
    let file = settings_file(&format!("{SHOP_SETTINGS}\n[media2]\nbase_url = \"x\"\n"));
    let path = file.path().to_str().unwrap();
    assert_settings_error("shop", &["--config", path, "serve"], &["`media2`", path]);

    let file = settings_file(&SHOP_SETTINGS.replace(
        "listen = \"127.0.0.1:0\"\npublic_url",
        "lisen = \"127.0.0.1:0\"\npublic_url",
    ));
    let path = file.path().to_str().unwrap();
    assert_settings_error(
        "shop",
        &["--config", path, "serve"],
        &["`http.lisen`", path],
    );

    let bridge = "[source]\nurl = \"mysql://bridge:hunter2-secret@127.0.0.1:1/legacy\"\nflavour = \"mariadb\"\nserver_id = 7\nmapping = \"m.toml\"\nssl = true\n[target]\nurl = \"postgres://x@127.0.0.1:1/x\"\n";
    let file = settings_file(bridge);
    let path = file.path().to_str().unwrap();
    assert_settings_error(
        "bridge",
        &["--config", path, "run"],
        &["`source.ssl`", path],
    );
}

#[test]
fn a_bad_value_is_named_without_the_value() {
    let file = settings_file(&SHOP_SETTINGS.replace(
        "listen = \"127.0.0.1:0\"\npublic_url",
        "listen = \"hunter2-secret\"\npublic_url",
    ));
    let path = file.path().to_str().unwrap();
    assert_settings_error(
        "shop",
        &["--config", path, "serve"],
        &["`http.listen`", path],
    );
}

#[tokio::test]
async fn the_running_stack_answers_health_and_metrics_on_admin_ports_only() {
    let http = reqwest::Client::new();
    for (admin, prefix) in [
        (env("SHOP_ADMIN_URL"), "shop_"),
        (env("BRIDGE_ADMIN_URL"), "bridge_"),
    ] {
        let health = http.get(format!("{admin}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{admin}/healthz");
        let metrics = http
            .get(format!("{admin}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.lines().any(|l| l.starts_with(prefix)),
            "{admin}/metrics names no {prefix}* metric:\n{metrics}"
        );
    }
    let public = http
        .get(format!("{}/metrics", env("SHOP_URL")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        public.status(),
        404,
        "the public port must not serve /metrics"
    );
    let home = http.get(env("SHOP_URL")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("The Funny Hat Shop"));
}

#[tokio::test]
async fn the_running_bridge_reaches_both_databases() {
    let body: serde_json::Value = reqwest::get(format!("{}/healthz", env("BRIDGE_ADMIN_URL")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["source"], true, "{body}");
    assert_eq!(body["target"], true, "{body}");
    // The stack's bridge leads and its replica is current.
    let ready = readiness(&env("BRIDGE_ADMIN_URL"), "leader, replica current").await;
    assert_eq!(ready["ready"], true, "{ready}");
}

/// Polls `/readyz` (bounded) until its state is `want`; returns the last body.
async fn readiness(admin: &str, want: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + START;
    loop {
        let body: serde_json::Value = reqwest::get(format!("{admin}/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["state"] == want || tokio::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn shop_stops_cleanly_on_sigterm() {
    let db = ShopDatabase::create().await.unwrap();
    let url = db.url("shop");
    let mut shop = Running::spawn(
        "shop",
        &["serve"],
        &[
            ("FUNNYHAT_HTTP__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_HTTP__PUBLIC_URL", "http://127.0.0.1"),
            ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_DATABASE__URL", &url),
            ("FUNNYHAT_MEDIA__BASE_URL", "http://127.0.0.1:1/media"),
            ("FUNNYHAT_LOG__FORMAT", "json"),
        ],
    )
    .unwrap();
    let listening = shop.wait_for_log("shop listening", START).await.unwrap();
    let public = listening["public"].as_str().unwrap().to_owned();
    let page = reqwest::get(format!("http://{public}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let started = std::time::Instant::now();
    let status = shop.terminate(Duration::from_secs(10)).await.unwrap();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        shop.log.join("\n")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    db.drop_now().await.unwrap();
}

#[tokio::test]
async fn bridge_stops_cleanly_on_sigterm() {
    let mut bridge = Running::spawn(
        "bridge",
        &["run"],
        &[
            ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_SOURCE__URL", &env("LEGACY_MYSQL_URL")),
            ("FUNNYHAT_SOURCE__FLAVOUR", "mariadb"),
            ("FUNNYHAT_SOURCE__SERVER_ID", "4242"),
            ("FUNNYHAT_SOURCE__TLS_CA", &env("LEGACY_MYSQL_CA")),
            ("FUNNYHAT_SOURCE__MAPPING", DEMO_MAPPING),
            ("FUNNYHAT_TARGET__URL", &env("BRIDGE_DATABASE_URL")),
            ("FUNNYHAT_LOG__FORMAT", "json"),
        ],
    )
    .unwrap();
    let listening = bridge
        .wait_for_log("bridge listening", START)
        .await
        .unwrap();
    let admin = listening["admin"].as_str().unwrap().to_owned();
    // Wait (bounded) for the first probe to reach the TLS-verified source.
    bridge
        .wait_for_log("source reachable", START)
        .await
        .unwrap();
    let health = reqwest::get(format!("http://{admin}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // The stack's own bridge holds the leader lock on this database: this one stands by, ready.
    let ready = readiness(&format!("http://{admin}"), "standby").await;
    assert_eq!(ready["ready"], true, "{ready}");
    let status = bridge.terminate(Duration::from_secs(10)).await.unwrap();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        bridge.log.join("\n")
    );
}

#[tokio::test]
async fn shop_migrate_applies_then_says_up_to_date() {
    let db = ShopDatabase::create().await.unwrap();
    let args = ["migrate"];
    let envs = [
        ("FUNNYHAT_HTTP__LISTEN", "127.0.0.1:0"),
        ("FUNNYHAT_HTTP__PUBLIC_URL", "http://127.0.0.1"),
        ("FUNNYHAT_DATABASE__URL", "postgres://unused@127.0.0.1:1/x"),
        ("FUNNYHAT_MEDIA__BASE_URL", "http://127.0.0.1:1/media"),
    ];
    let migrator = db.url("migrator");
    let mut with_url: Vec<(&str, &str)> = envs.to_vec();
    with_url.push(("FUNNYHAT_DATABASE__MIGRATOR_URL", &migrator));
    // Blocking is fine here: nothing else runs on this test's runtime meanwhile.
    let (code, stdout, stderr) = run_to_end("shop", &args, &with_url);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("up to date"), "{stdout}");
    db.drop_now().await.unwrap();

    let (code, _, stderr) = run_to_end("shop", &args, &envs);
    assert_ne!(code, 0);
    assert!(stderr.contains("database.migrator_url"), "{stderr}");
}
