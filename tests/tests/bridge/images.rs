//! Item pictures end to end: a picture changed in the legacy database becomes WebP and JPEG
//! thumbnails in S3 (a scratch s3s-fs, which checks signatures) and a `ready` row for the shop;
//! unchanged pictures are not made again, shared ones are made once, unreferenced ones are
//! collected, bad ones fail with a clear error without stopping anything, and an S3 outage is
//! retried, dead-lettered and recovered. Each test has a scratch source of its own, so the only
//! pictures are the ones it writes.

use crate::support::{
    BridgeUnderTest, WAIT, bridge_command_with, metric, metrics_of, scratch_source, wait_until,
};
use bridge::images::store::Store;
use mysql_async::prelude::Queryable;
use tests::legacy::pictures::{self, Look, PictureFormat, PictureSpec};
use tests::scratch_mariadb::ScratchMariaDb;
use tests::scratch_s3::{self, ScratchS3};

struct Rig {
    _server: ScratchMariaDb,
    s3: ScratchS3,
    bridge: BridgeUnderTest,
    root: mysql_async::Conn,
}

/// A scratch source and S3, and a bridge with image workers on them; `settings` are more
/// `FUNNYHAT_IMAGES__…` values.
async fn rig(settings: &[(&str, &str)]) -> Rig {
    let (server, source) = scratch_source().await;
    let s3 = ScratchS3::start().await.unwrap();
    let mut env = s3.bridge_env();
    env.extend(
        [
            ("FUNNYHAT_IMAGES__RETRY_BASE_SECS", "0.2"),
            ("FUNNYHAT_IMAGES__RETRY_MAX_SECS", "0.5"),
            ("FUNNYHAT_IMAGES__UPLOAD_TIMEOUT_SECS", "5"),
        ]
        .iter()
        .chain(settings)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let bridge = BridgeUnderTest::start_with(source, env).await;
    let mut root = server.root().await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    Rig {
        _server: server,
        s3,
        bridge,
        root,
    }
}

impl Rig {
    /// Inserts item `id` (3 on hand) with `picture`, or replaces its picture.
    async fn put_picture(&mut self, id: u64, picture: Option<&[u8]>) {
        self.root
            .exec_drop(
                "INSERT INTO items (id, sku, name, category_id, price, image, image_mime)
                 VALUES (?, ?, 'Picture Hat', 1, '12.0000', ?, 'image/jpeg')
                 ON DUPLICATE KEY UPDATE image = VALUES(image)",
                (id, format!("IMG-{id}"), picture),
            )
            .await
            .unwrap();
        self.root
            .exec_drop(
                "INSERT IGNORE INTO stock_levels (item_id, location_id, quantity) VALUES (?, 1, 3)",
                (id,),
            )
            .await
            .unwrap();
    }

    async fn picture(&self, id: u64) -> Picture {
        sqlx::query_as(
            "SELECT status::text, error, keys, width, height, base_url, encode(source_sha256, 'hex')
             FROM stock.images WHERE item_key = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.bridge.shop)
        .await
        .unwrap()
        .unwrap_or_default()
    }

    /// Polls the bridge's `/metrics` until `name`'s value satisfies `check`.
    async fn wait_for_metric(&mut self, name: &str, check: impl Fn(f64) -> bool) {
        let deadline = tokio::time::Instant::now() + crate::support::WAIT;
        loop {
            let page = self.bridge.metrics().await;
            if metric(&page, name).is_some_and(&check) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never satisfied the check:\n{page}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Waits until item `id` shows a picture other than the one hashed `previous`, with `status`.
    async fn settled_after(&self, id: u64, status: &str, previous: &str) -> Picture {
        wait_until(&format!("item {id}'s new picture is {status}"), || async {
            let p = self.picture(id).await;
            p.0 == status && p.6.as_deref() != Some(previous)
        })
        .await;
        self.picture(id).await
    }

    /// Waits until item `id`'s picture has `status`, and returns it.
    async fn settled(&self, id: u64, status: &str) -> Picture {
        wait_until(&format!("item {id}'s picture is {status}"), || async {
            self.picture(id).await.0 == status
        })
        .await;
        self.picture(id).await
    }

    fn store(&self) -> impl Future<Output = Store> {
        let settings = serde_json::json!({
            "bucket": scratch_s3::BUCKET,
            "endpoint": self.s3.endpoint(),
            "access_key": scratch_s3::ACCESS_KEY,
            "secret_key": scratch_s3::SECRET_KEY,
            "public_base_url": "http://unused",
        });
        async move {
            Store::connect(&serde_json::from_value(settings).unwrap())
                .await
                .unwrap()
        }
    }
}

/// (status, error, keys, width, height, base_url, sha256 hex)
type Picture = (
    String,
    Option<String>,
    serde_json::Value,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<String>,
);

fn photo(format: PictureFormat, width: u32, height: u32, seed: u64) -> Vec<u8> {
    pictures::render(&PictureSpec {
        look: Look::Bowler,
        format,
        width,
        height,
        seed,
    })
    .unwrap()
    .bytes
}

fn keys_of(picture: &Picture) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = picture
        .2
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, key)| (name.clone(), key.as_str().unwrap().to_owned()))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_picture_becomes_thumbnails_once_shared_by_hash_and_collected_when_unused() {
    let mut rig = rig(&[]).await;
    // A phone photo: stored sideways with EXIF orientation 6, upright it is 1600 × 1200.
    let sideways = photo(PictureFormat::ExifRotatedJpeg, 1600, 1200, 1);
    assert!(sideways.windows(6).any(|w| w == b"Exif\0\0"));
    rig.put_picture(1, Some(&sideways)).await;
    let ready = rig.settled(1, "ready").await;
    let sha = ready.6.clone().unwrap();
    assert_eq!((ready.3, ready.4), (Some(1600), Some(1200)), "upright size");
    assert_eq!(
        ready.5.as_deref(),
        Some(format!("{}/{}", rig.s3.endpoint(), scratch_s3::BUCKET).as_str())
    );

    // Every size as WebP and JPEG, plus the original; keys hold the source's hash and the version.
    let keys = keys_of(&ready);
    let names: Vec<&str> = keys.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "160.webp",
        "480.webp",
        "1200.webp",
        "160.jpg",
        "480.jpg",
        "1200.jpg",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("original.")),
        "{names:?}"
    );
    let store = rig.store().await;
    for (name, key) in &keys {
        assert_eq!(
            key,
            &format!(
                "items/{sha}/{}/{name}",
                bridge::images::pipeline::PIPELINE_VERSION
            )
        );
        let object = store.get(key).await.unwrap();
        let expected_type = if name.ends_with(".webp") {
            "image/webp"
        } else if name.ends_with(".jpg") {
            "image/jpeg"
        } else {
            "image/"
        };
        assert!(
            object
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with(expected_type)),
            "{name}: {:?}",
            object.content_type
        );
        assert_eq!(
            object.cache_control.as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        let decoded = image::load_from_memory(&object.bytes)
            .unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        let long_side = decoded.width().max(decoded.height());
        if let Some(size) = name.split('.').next().and_then(|s| s.parse::<u32>().ok()) {
            assert_eq!(long_side, size, "{name}'s long side");
        }
        assert!(
            decoded.width() > decoded.height(),
            "{name} is upright (landscape), not sideways"
        );
        assert!(
            !object.bytes.windows(6).any(|w| w == b"Exif\0\0"),
            "{name} carries no EXIF"
        );
    }

    // A price change carries the same picture along: nothing is made or uploaded again.
    let before = rig.s3.keys();
    rig.root
        .exec_drop("UPDATE items SET price = '13.0000' WHERE id = 1", ())
        .await
        .unwrap();
    // A second item with the same picture shares the objects.
    rig.put_picture(2, Some(&sideways)).await;
    let shared = rig.settled(2, "ready").await;
    assert_eq!(keys_of(&shared), keys);
    let jobs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stock.image_jobs WHERE item_key = '1'")
            .fetch_one(&rig.bridge.shop)
            .await
            .unwrap();
    assert_eq!(jobs, 1, "the price change queued no job");
    assert_eq!(rig.s3.keys(), before, "nothing uploaded again");
    let refs: Vec<i64> = sqlx::query_scalar("SELECT refs FROM stock.image_object_refs")
        .fetch_all(&rig.bridge.shop)
        .await
        .unwrap();
    assert_eq!(refs, [2], "one picture made, shown by two items");
    let page = rig.bridge.metrics().await;
    assert_eq!(metric(&page, "bridge_images_made_total"), Some(1.0));

    // Both items get other pictures: the first one's objects are unreferenced. Collected only
    // after the grace period: not with the default 7 days, at once with 0.
    rig.put_picture(1, Some(&photo(PictureFormat::Png, 300, 200, 2)))
        .await;
    rig.put_picture(2, None).await;
    let small = rig.settled_after(1, "ready", &sha).await;
    let small_names: Vec<String> = keys_of(&small).into_iter().map(|(n, _)| n).collect();
    assert!(small_names.contains(&"160.webp".to_owned()));
    assert!(
        small_names.contains(&"300.webp".to_owned()),
        "never upscaled: {small_names:?}"
    );
    assert!(
        !small_names
            .iter()
            .any(|n| n.starts_with("480.") || n.starts_with("1200."))
    );
    rig.settled(2, "none").await;
    let (code, out) = bridge_command_with(&rig.bridge, "images gc", &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("removed: 0"), "{out}");
    assert!(rig.s3.object_path(&keys[0].1).exists());
    let (code, out) = bridge_command_with(
        &rig.bridge,
        "images gc",
        &[("FUNNYHAT_IMAGES__GC_GRACE_SECS", "0")],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("removed: 1"), "{out}");
    for (_, key) in &keys {
        assert!(!rig.s3.object_path(key).exists(), "{key} removed");
    }
    for (_, key) in keys_of(&small) {
        assert!(rig.s3.object_path(&key).exists(), "{key} kept");
    }
    rig.bridge.stop().await;
}

#[tokio::test]
async fn bad_pictures_fail_with_a_clear_error_and_stock_keeps_flowing() {
    let mut rig = rig(&[("FUNNYHAT_IMAGES__MAX_BYTES", "300000")]).await;
    let good = photo(PictureFormat::Jpeg, 800, 600, 3);
    let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    heic.resize(4096, 0);
    let cases: [(u64, Vec<u8>, &str); 5] = [
        (11, Vec::new(), "empty"),
        (12, good[..good.len() / 2].to_vec(), "corrupt"),
        (13, b"<html>not a picture</html>".to_vec(), "not a picture"),
        (14, heic, "HEIC"),
        (15, vec![0xAB; 400_000], "over the 0.3 MiB limit"),
    ];
    for (id, bytes, _) in &cases {
        rig.put_picture(*id, Some(bytes)).await;
    }
    for (id, _, expected) in &cases {
        let failed = rig.settled(*id, "failed").await;
        let error = failed.1.unwrap_or_default();
        assert!(
            error.to_lowercase().contains(&expected.to_lowercase()),
            "item {id}: {error:?} should say {expected:?}"
        );
        assert_eq!(failed.2, serde_json::json!({}), "no objects for item {id}");
    }
    // Never retried: each job ran once and ended `failed`.
    let attempts: Vec<(String, i32)> = sqlx::query_as(
        "SELECT state::text, attempts FROM stock.image_jobs WHERE item_key IN ('11','12','13','14','15')",
    )
    .fetch_all(&rig.bridge.shop)
    .await
    .unwrap();
    assert_eq!(attempts.len(), 5);
    assert!(
        attempts.iter().all(|(s, a)| s == "failed" && *a == 1),
        "{attempts:?}"
    );
    let page = rig.bridge.metrics().await;
    for reason in [
        "empty",
        "corrupt",
        "not_an_image",
        "unsupported",
        "too_large",
    ] {
        assert_eq!(
            metric(
                &page,
                &format!("bridge_image_failures_total{{reason=\"{reason}\"}}")
            ),
            Some(1.0),
            "{reason}"
        );
    }
    // Stock still flows, and nothing is stuck in the queue.
    rig.root
        .exec_drop(
            "UPDATE stock_levels SET quantity = 9 WHERE item_id = 13",
            (),
        )
        .await
        .unwrap();
    wait_until("the stock change arrives", || async {
        let on_hand: Option<i32> =
            sqlx::query_scalar("SELECT on_hand FROM stock.items WHERE item_key = '13'")
                .fetch_optional(&rig.bridge.shop)
                .await
                .unwrap();
        on_hand == Some(9)
    })
    .await;
    // The operator's view: `bridge status` lists them with their errors.
    let (code, out) = bridge_command_with(&rig.bridge, "status", &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pictures that cannot be shown: 5"), "{out}");
    assert!(out.contains("item 14: unsupported format HEIC"), "{out}");
    assert!(out.contains("0 dead"), "{out}");
    // A good picture replaces the bad one.
    let bad = rig.picture(13).await.6.unwrap();
    rig.put_picture(13, Some(&good)).await;
    let fixed = rig.settled_after(13, "ready", &bad).await;
    assert_eq!(fixed.1, None);
    assert!(fixed.2.get("480.webp").is_some());
    rig.bridge.stop().await;
}

#[tokio::test]
async fn an_s3_outage_is_retried_dead_lettered_and_recovered_across_a_restart() {
    // Retries after 0.5–1 s, 1–2 s, 1–2 s…: the queue gauge (sampled every 2 s) sees them, and a
    // requeued job outlives a restart of the bridge (4.5–9 s to the dead letter).
    let mut rig = rig(&[
        ("FUNNYHAT_IMAGES__MAX_ATTEMPTS", "6"),
        ("FUNNYHAT_IMAGES__LEASE_SECS", "3"),
        ("FUNNYHAT_IMAGES__RETRY_BASE_SECS", "1"),
        ("FUNNYHAT_IMAGES__RETRY_MAX_SECS", "2"),
    ])
    .await;
    rig.s3.stop().await;
    let ids = [21u64, 22, 23];
    for (i, id) in ids.iter().enumerate() {
        let seed = 30 + u64::try_from(i).unwrap();
        rig.put_picture(*id, Some(&photo(PictureFormat::Jpeg, 640, 480, seed)))
            .await;
    }
    // An item deleted in the legacy app while its picture waits: nothing is left pending for it.
    rig.put_picture(29, Some(&photo(PictureFormat::Jpeg, 640, 480, 39)))
        .await;
    rig.settled(29, "pending").await;
    rig.root
        .exec_drop("DELETE FROM items WHERE id = 29", ())
        .await
        .unwrap();
    let gone = rig.settled(29, "none").await;
    assert_eq!(gone.6, None, "the hash is forgotten");
    // Stock replicates while S3 is down; the pictures wait in the queue, retried.
    wait_until("the items arrive, pictures pending", || async {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM stock.items it JOIN stock.images i USING (item_key)
             WHERE it.on_hand = 3 AND i.status = 'pending' AND it.item_key IN ('21','22','23')",
        )
        .fetch_one(&rig.bridge.shop)
        .await
        .unwrap();
        pending == 3
    })
    .await;
    wait_until(
        "the replica is fresh (stock never waits for pictures)",
        || async {
            let staleness: Option<f64> = sqlx::query_scalar(
                "SELECT extract(epoch FROM staleness)::float8 FROM stock.freshness",
            )
            .fetch_one(&rig.bridge.shop)
            .await
            .unwrap();
            staleness.is_some_and(|s| s < 2.0)
        },
    )
    .await;
    rig.wait_for_metric("bridge_image_jobs_pending", |n| n >= 1.0)
        .await;

    // After max_attempts the jobs go to the dead letter, and the items say why.
    for id in ids {
        let failed = rig.settled(id, "failed").await;
        let error = failed.1.unwrap_or_default();
        assert!(error.contains("gave up after 6 attempts"), "{error}");
        assert!(error.contains("requeue"), "{error}");
    }
    let dead: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stock.image_jobs WHERE state = 'dead'")
            .fetch_one(&rig.bridge.shop)
            .await
            .unwrap();
    assert_eq!(dead, 3);

    // The operator requeues while S3 is still down; the bridge is killed with the jobs queued or
    // running (their lease runs out); S3 comes back; everything is made.
    let (code, out) = bridge_command_with(&rig.bridge, "images requeue", &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("3 dead image job(s) back in the queue"),
        "{out}"
    );
    rig.bridge.crash_and_restart().await;
    rig.s3.resume().await.unwrap();
    for id in ids {
        let ready = rig.settled(id, "ready").await;
        for (_, key) in keys_of(&ready) {
            assert!(rig.s3.object_path(&key).exists(), "{key} uploaded");
        }
    }
    rig.wait_for_metric("bridge_image_jobs_pending", |n| n == 0.0)
        .await;
    wait_until("the queue drains", || async {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM stock.image_jobs WHERE state IN ('queued', 'running', 'dead')",
        )
        .fetch_one(&rig.bridge.shop)
        .await
        .unwrap();
        open == 0
    })
    .await;
    rig.bridge.stop().await;
}

#[tokio::test]
async fn two_bridges_share_the_queue_and_never_make_a_picture_twice() {
    let mut rig = rig(&[]).await;
    let mut second = rig.bridge.spawn_second();
    second
        .wait_for_log("image workers running", WAIT)
        .await
        .unwrap();
    // Eight items, five distinct pictures: three are shown twice.
    let pictures: Vec<Vec<u8>> = (0..5)
        .map(|seed| photo(PictureFormat::Jpeg, 900, 700, 100 + seed))
        .collect();
    for id in 41..49u64 {
        let which = usize::try_from(id % 5).unwrap();
        rig.put_picture(id, Some(&pictures[which])).await;
    }
    for id in 41..49u64 {
        rig.settled(id, "ready").await;
    }
    let made_first = metric(&rig.bridge.metrics().await, "bridge_images_made_total").unwrap_or(0.0);
    let made_second =
        metric(&metrics_of(&mut second).await, "bridge_images_made_total").unwrap_or(0.0);
    assert_eq!(
        made_first + made_second,
        5.0,
        "{made_first} + {made_second}"
    );
    let refs: Vec<i64> =
        sqlx::query_scalar("SELECT refs FROM stock.image_object_refs ORDER BY refs")
            .fetch_all(&rig.bridge.shop)
            .await
            .unwrap();
    assert_eq!(refs, [1, 1, 2, 2, 2]);
    second
        .terminate(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    rig.bridge.stop().await;
}
