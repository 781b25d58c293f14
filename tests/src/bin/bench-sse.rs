//! `bench-sse`: legacy change → live stock event at every open product page. Opens `--streams`
//! Server-Sent Events streams to one hat's `/hats/{id}/stock/events` on `--shop`, then commits
//! `--rate` stock changes a second for `--seconds` in the legacy MariaDB (autocommit `UPDATE
//! stock_levels`, as the staff app does). The stack's bridge replicates each change and notifies;
//! the shop fans it out. Latency is from the commit's acknowledgement (the `UPDATE` returning) to
//! the event's arrival on each stream, both on this process's monotonic clock. Change n sets the
//! quantity to n (from 1 up, after a start at 0), so with a low-stock threshold above the number of
//! changes every event's words ("Only n left") name the change it carries, however late it comes; a
//! change a stream never saw (the shop may fold two quick changes into one event) is counted as
//! missed. Prints p50/p90/p99/max and the misses.
//!
//! Run it against the local stack (`eval "$(deploy/local/env)"`) and a shop whose per-address
//! stream cap admits `--streams` (`FUNNYHAT_LIVE__MAX_STREAMS_PER_CLIENT`) and whose low-stock
//! threshold is above `--rate × --seconds` (`FUNNYHAT_CATALOGUE__LOW_STOCK_THRESHOLD`), with
//! `ulimit -n` above the stream count. Method and figures: docs/BENCHMARKS.md ("Shop").

use anyhow::{Context, bail};
use clap::Parser;
use mysql_async::prelude::Queryable;
use std::path::Path;
use std::time::{Duration, Instant};
use tests::stack::env;

#[derive(Parser)]
struct Args {
    /// The shop's base URL.
    #[arg(long)]
    shop: String,
    /// The hat whose page the streams watch (a generated one from `bench-shop-data`).
    #[arg(long, default_value_t = 8_000_000_000_002)]
    item: u64,
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Legacy commits per second.
    #[arg(long, default_value_t = 10)]
    rate: u32,
    #[arg(long, default_value_t = 60)]
    seconds: u32,
}

/// "Out of stock": the state before the first change.
const START_QUANTITY: i32 = 0;

fn words(quantity: i32) -> String {
    if quantity <= 0 {
        "Out of stock".to_owned()
    } else {
        format!("Only {quantity} left")
    }
}

struct Change {
    /// Just before the `UPDATE` went out: no event for this change can come earlier.
    sent: Instant,
    /// When the commit was acknowledged.
    acked: Instant,
    text: String,
}

/// The stock events of one stream: (arrival, the stock line's words), the first (current state)
/// left out.
async fn watch(
    http: reqwest::Client,
    url: String,
    opened: tokio::sync::mpsc::Sender<()>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<(Instant, String)>> {
    let mut response = http.get(&url).send().await?;
    if response.status() != 200 {
        bail!("{url}: {}", response.status());
    }
    let mut buffer = String::new();
    let mut events = Vec::new();
    let mut first = true;
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => match chunk? {
                Some(chunk) => chunk,
                None => bail!("{url}: the stream ended"),
            },
            _ = stop.changed() => break,
        };
        let at = Instant::now();
        buffer.push_str(std::str::from_utf8(&chunk).context("not UTF-8")?);
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue; // a keep-alive comment
            };
            let state: serde_json::Value = serde_json::from_str(data.trim())?;
            let text = state["text"].as_str().unwrap_or_default().to_owned();
            if first {
                first = false;
                opened.send(()).await.ok();
            } else {
                events.push((at, text));
            }
        }
    }
    Ok(events)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ca = env("LEGACY_MYSQL_CA");
    let opts = tests::legacy::connect::opts(&env("LEGACY_MYSQL_APP_URL"), Some(Path::new(&ca)))?;
    let mut legacy = mysql_async::Conn::new(opts).await?;
    let set = "UPDATE stock_levels SET quantity = ? WHERE item_id = ? AND location_id = 1";
    legacy.exec_drop(set, (START_QUANTITY, args.item)).await?;

    let url = format!("{}/hats/{}/stock/events", args.shop, args.item);
    // Wait until the starting state has reached the shop, so the first events are all alike.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = http
            .get(format!("{}/hats/{}", args.shop, args.item))
            .send()
            .await?
            .text()
            .await?;
        if page.contains(">Out of stock<") {
            break;
        }
        if Instant::now() > deadline {
            bail!("the hat never showed Out of stock on {}", args.shop);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(args.streams);
    let mut streams = Vec::with_capacity(args.streams);
    for _ in 0..args.streams {
        streams.push(tokio::spawn(watch(
            http.clone(),
            url.clone(),
            opened_tx.clone(),
            stopped.clone(),
        )));
    }
    drop(opened_tx);
    let opening = Instant::now();
    for n in 0..args.streams {
        tokio::time::timeout(Duration::from_secs(120), opened_rx.recv())
            .await
            .with_context(|| format!("only {n} of {} streams opened", args.streams))?;
    }
    println!(
        "{} streams open in {:.1} s",
        args.streams,
        opening.elapsed().as_secs_f64()
    );

    let mut changes = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let count = args.rate * args.seconds;
    for n in 0..count {
        tick.tick().await;
        let quantity = i32::try_from(n + 1)?;
        let sent = Instant::now();
        legacy.exec_drop(set, (quantity, args.item)).await?;
        changes.push(Change {
            sent,
            acked: Instant::now(),
            text: words(quantity),
        });
    }
    // Time for the last change's events to arrive everywhere (a benchmark, not a test).
    tokio::time::sleep(Duration::from_secs(5)).await;
    legacy.exec_drop(set, (START_QUANTITY, args.item)).await?;
    legacy.disconnect().await?;
    stop.send(true)?;
    let mut latencies: Vec<Duration> = Vec::new();
    let mut early = 0u64;
    let mut repeated = 0u64;
    for stream in streams {
        let events = stream.await??;
        let mut seen = std::collections::HashSet::new();
        for (at, text) in events {
            // The latest change sent before the event and carrying its words.
            let Some((index, change)) = changes
                .iter()
                .enumerate()
                .rev()
                .find(|(_, c)| c.sent <= at && c.text == text)
            else {
                continue;
            };
            // The same words again without a change in between (a re-check): not a new event.
            if !seen.insert(index) {
                repeated += 1;
                continue;
            }
            match at.checked_duration_since(change.acked) {
                Some(latency) => latencies.push(latency),
                None => {
                    early += 1;
                    latencies.push(Duration::ZERO);
                }
            }
        }
    }
    if latencies.is_empty() {
        bail!("no event named a change: is the shop's low-stock threshold above {count}?");
    }
    let expected = u64::from(count) * args.streams as u64;
    let seen = latencies.len() as u64;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{count} changes × {} streams: {seen} events ({} missed, {repeated} repeated, \
         {early} before the ack); \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        args.streams,
        expected.saturating_sub(seen),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
