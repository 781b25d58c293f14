//! The legacy MariaDB as the bridge will see it: a ROW binlog with full metadata, a bridge user that
//! can read and replicate but not write, TLS with the stack's CA, every trap of the demo data, and
//! the simulator's writes reaching the binlog.
//!
//! These run concurrently with every other test on the same stack: they never reload the demo data,
//! write only to their own `test_scratch_*` tables, and assert on the trap items the simulator
//! leaves alone (`catalog::traps`).

use std::path::PathBuf;

use futures::StreamExt;
use mysql_async::{
    BinlogStreamRequest, Conn, Opts, OptsBuilder, SslOpts,
    binlog::events::{EventData, OptionalMetadataField, RowsEventData},
    prelude::Queryable,
};
use rand::Rng;
use tests::{
    legacy::{
        catalog::{self, LATIN1_NOTE_TEXT, NEGATIVE_QUANTITY, SUB_PENNY_PRICE_TEXT, traps},
        connect,
        simulate::{self, SimulateOptions},
    },
    stack::env,
};

/// MySQL's "command denied to user for table".
const ER_TABLEACCESS_DENIED: u16 = 1142;

/// A CA that signed nothing the stack uses (a throwaway self-signed P-256 certificate).
const UNRELATED_CA: &[u8] = b"-----BEGIN CERTIFICATE-----
MIIBnTCCAUOgAwIBAgIUIqO6/DDSZ3jr6MnIzWWJim1pk48wCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYTm90IHRoZSBGdW5ueSBIYXQgZGV2IENBMCAXDTI2MTEyNDIz
NDY0M1oYDzIxMjYxMDMxMjM0NjQzWjAjMSEwHwYDVQQDDBhOb3QgdGhlIEZ1bm55
IEhhdCBkZXYgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQtKT8IHg1PGznC
UFVAW9KCLFknATM/FG73043S2sCvSkbNe3Pp8EnF4kViPTWLf85j7KPWwSVbdqJM
g/fiOg2Vo1MwUTAdBgNVHQ4EFgQU64XaddGrenFFI87JoY3cosZ2gbwwHwYDVR0j
BBgwFoAU64XaddGrenFFI87JoY3cosZ2gbwwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNIADBFAiEA4pJXTzio62HjIV6ZPCdume1lXUel+uCgYZyfFxSjwooC
ICNHAM9OG5j+JmNFPxbOSEDmEnHL8Ke2b2SBGgcHsITK
-----END CERTIFICATE-----
";

fn ca() -> PathBuf {
    PathBuf::from(env("LEGACY_MYSQL_CA"))
}

/// A connection from one of the stack's URL variables, over TLS verified with the stack's CA.
async fn connect_as(url_var: &str) -> Conn {
    let opts = connect::opts(&env(url_var), Some(&ca())).unwrap();
    Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("connecting with {url_var}: {e}"))
}

async fn admin() -> Conn {
    connect_as("LEGACY_MYSQL_ADMIN_URL").await
}

async fn bridge() -> Conn {
    connect_as("LEGACY_MYSQL_URL").await
}

async fn stockapp() -> Conn {
    connect_as("LEGACY_MYSQL_APP_URL").await
}

/// A table name of our own, so concurrent tests never meet.
fn scratch_table() -> String {
    format!("test_scratch_{:016x}", rand::rng().random::<u64>())
}

/// The server's current binlog file and position.
#[derive(Clone, Debug)]
struct Position {
    file: String,
    pos: u64,
}

async fn master_status(conn: &mut Conn) -> Position {
    let row: mysql_async::Row = conn
        .query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .expect("binlog enabled");
    Position {
        file: row.get(0).unwrap(),
        pos: row.get(1).unwrap(),
    }
}

/// `(Event_type, Info)` of every binlog event from `from` to the end, across rotations.
async fn binlog_events_since(conn: &mut Conn, from: &Position) -> Vec<(String, String)> {
    let logs: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await.unwrap();
    let files: Vec<String> = logs
        .iter()
        .map(|r| r.get::<String, _>(0).unwrap())
        .collect();
    let start = files
        .iter()
        .position(|f| *f == from.file)
        .expect("start file still listed");
    let mut events = Vec::new();
    for (i, file) in files[start..].iter().enumerate() {
        // SHOW BINLOG EVENTS takes no placeholders; the file name comes from the server itself and
        // is checked to be a plain file name before it goes into the statement.
        assert!(
            file.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
        );
        let pos = if i == 0 { from.pos } else { 4 };
        let rows: Vec<mysql_async::Row> = conn
            .query(format!("SHOW BINLOG EVENTS IN '{file}' FROM {pos}"))
            .await
            .unwrap();
        // Info is not always UTF-8: Annotate_rows quotes statements with their binary parameters.
        events.extend(rows.iter().map(|r| {
            let info: Vec<u8> = r.get(5).unwrap();
            (
                r.get::<String, _>(2).unwrap(),
                String::from_utf8_lossy(&info).into_owned(),
            )
        }));
    }
    events
}

/// The table id the binlog gave `table` and whether a Write_rows event for that id follows.
fn write_rows_for(events: &[(String, String)], table: &str) -> bool {
    let qualified = format!("(legacy.{table})");
    let Some(table_id) = events
        .iter()
        .find(|(kind, info)| kind == "Table_map" && info.contains(&qualified))
        .and_then(|(_, info)| {
            info.strip_prefix("table_id: ")?
                .split(' ')
                .next()
                .map(str::to_owned)
        })
    else {
        return false;
    };
    let id_prefix = format!("table_id: {table_id} ");
    events
        .iter()
        .any(|(kind, info)| kind.starts_with("Write_rows") && info.starts_with(&id_prefix))
}

fn server_code(error: &mysql_async::Error) -> Option<u16> {
    match error {
        mysql_async::Error::Server(e) => Some(e.code),
        _ => None,
    }
}

// (a) ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn binlog_is_row_based_with_full_images_and_metadata() {
    let mut admin = admin().await;
    let (log_bin, format, image, metadata): (u8, String, String, String) = admin
        .query_first("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (log_bin, format.as_str(), image.as_str(), metadata.as_str()),
        (1, "ROW", "FULL", "FULL")
    );

    let table = scratch_table();
    let mut app = stockapp().await;
    app.query_drop(format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB"
    ))
    .await
    .unwrap();
    let before = master_status(&mut admin).await;
    app.exec_drop(
        format!("INSERT INTO {table} (id, note) VALUES (?, ?)"),
        (1, "one hat"),
    )
    .await
    .unwrap();

    let events = binlog_events_since(&mut admin, &before).await;
    app.query_drop(format!("DROP TABLE {table}")).await.unwrap();
    assert!(
        write_rows_for(&events, &table),
        "no Write_rows for {table} in {events:#?}"
    );
}

#[tokio::test]
async fn the_bridge_user_can_stream_the_binlog_with_column_names() {
    let mut admin = admin().await;
    let table = scratch_table();
    let mut app = stockapp().await;
    app.query_drop(format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB"
    ))
    .await
    .unwrap();
    let before = master_status(&mut admin).await;
    app.exec_drop(
        format!("INSERT INTO {table} (id, note) VALUES (?, ?)"),
        (7, "seven hats"),
    )
    .await
    .unwrap();
    app.query_drop(format!("DROP TABLE {table}")).await.unwrap();

    // A replica's server id of its own; non-blocking, so the stream ends at the end of the binlog.
    let server_id = rand::rng().random_range(1_000_000..2_000_000);
    let request = BinlogStreamRequest::new(server_id)
        .with_filename(before.file.as_bytes())
        .with_pos(before.pos)
        .with_non_blocking();
    let mut stream = bridge().await.get_binlog_stream(request).await.unwrap();
    let (mut columns, mut table_id, mut wrote) = (None, None, false);
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        match event.read_data().unwrap() {
            Some(EventData::TableMapEvent(tme)) if tme.table_name() == table.as_str() => {
                assert_eq!(tme.database_name(), "legacy");
                table_id = Some(tme.table_id());
                for field in tme.iter_optional_meta() {
                    if let OptionalMetadataField::ColumnName(names) = field.unwrap() {
                        let names: Vec<String> = names
                            .iter_names()
                            .map(|n| n.unwrap().name().into_owned())
                            .collect();
                        columns = Some(names);
                    }
                }
            }
            Some(EventData::RowsEvent(RowsEventData::WriteRowsEventV1(ev)))
                if Some(ev.table_id()) == table_id =>
            {
                wrote = true;
            }
            Some(EventData::RowsEvent(RowsEventData::WriteRowsEvent(ev)))
                if Some(ev.table_id()) == table_id =>
            {
                wrote = true;
            }
            _ => {}
        }
        if wrote {
            break;
        }
    }
    assert_eq!(
        columns.as_deref(),
        Some(&["id".to_owned(), "note".to_owned()][..]),
        "column names in the table map"
    );
    assert!(wrote, "the bridge user's stream has the insert");
}

// (b) ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_bridge_user_reads_and_replicates_but_never_writes() {
    let mut bridge = bridge().await;
    let writes = [
        "INSERT INTO items (id, sku, name) VALUES (424242, 'FH-TST-0001', 'Forbidden Hat')",
        "UPDATE items SET name = name WHERE id = 1",
        "DELETE FROM stock_levels WHERE id = 0",
        "INSERT INTO stock_levels (item_id, location_id, quantity) VALUES (1, 1, 1)",
        "CREATE TABLE test_scratch_bridge_may_not (id INT)",
    ];
    for sql in writes {
        let error = bridge.query_drop(sql).await.expect_err(sql);
        assert_eq!(
            server_code(&error),
            Some(ER_TABLEACCESS_DENIED),
            "{sql}: {error}"
        );
    }
    let error = bridge
        .query_drop("SELECT COUNT(*) FROM mysql.user")
        .await
        .expect_err("mysql.user");
    assert_eq!(
        server_code(&error),
        Some(ER_TABLEACCESS_DENIED),
        "mysql.user: {error}"
    );

    let items: u64 = bridge
        .query_first("SELECT COUNT(*) FROM legacy.items")
        .await
        .unwrap()
        .unwrap();
    assert!(items > 0);
    let status = master_status(&mut bridge).await;
    assert!(!status.file.is_empty() && status.pos > 0);
}

// (c) ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tls_is_verified_against_the_stack_ca() {
    let mut conn = bridge().await;
    let (_, cipher): (String, String) = conn
        .query_first("SHOW STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap()
        .unwrap();
    assert!(!cipher.is_empty(), "the connection is not encrypted");

    let opts = Opts::from_url(&env("LEGACY_MYSQL_URL")).unwrap();
    let unrelated_ca = SslOpts::default()
        .with_root_certs(vec![UNRELATED_CA.into()])
        .with_disable_built_in_roots(true);
    let system_roots_only = SslOpts::default();
    for (what, ssl) in [
        ("an unrelated CA", unrelated_ca),
        ("the system roots", system_roots_only),
    ] {
        let result = Conn::new(OptsBuilder::from_opts(opts.clone()).ssl_opts(ssl)).await;
        let error = result
            .err()
            .unwrap_or_else(|| panic!("TLS verified with {what}"));
        assert!(
            matches!(error, mysql_async::Error::Io(_))
                && error.to_string().to_lowercase().contains("certificate"),
            "with {what}: expected a certificate error, got {error}"
        );
    }
    // The bridge's account takes TLS only (as an RDS user with REQUIRE SSL would), so every bridge
    // test on the stack's server runs its snapshot and binlog connections over TLS.
    let plain = Conn::new(OptsBuilder::from_opts(opts).ssl_opts(None::<SslOpts>)).await;
    let error = plain.expect_err("the bridge's account logged in without TLS");
    assert!(
        error.to_string().contains("Access denied"),
        "without TLS: expected access denied, got {error}"
    );
}

// (d) ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn one_item_key_is_above_two_to_the_63_and_the_others_are_small() {
    let mut conn = bridge().await;
    let big: Vec<u64> = conn
        .exec("SELECT id FROM items WHERE id > ?", (i64::MAX as u64,))
        .await
        .unwrap();
    assert_eq!(big, [traps::BIG_KEY]);
    let mid: u64 = conn
        .exec_first(
            "SELECT COUNT(*) FROM items WHERE id >= 1000000 AND id <> ?",
            (traps::BIG_KEY,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mid, 0);
}

#[tokio::test]
async fn a_price_has_sub_penny_digits() {
    let mut conn = bridge().await;
    let price: String = conn
        .exec_first(
            "SELECT price FROM items WHERE id = ?",
            (traps::SUB_PENNY_PRICE,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(price, SUB_PENNY_PRICE_TEXT);
    let (scale,): (u32,) = conn
        .query_first(
            "SELECT NUMERIC_SCALE FROM information_schema.columns \
             WHERE table_schema = 'legacy' AND table_name = 'items' AND column_name = 'price'",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(scale, 4);
}

#[tokio::test]
async fn stock_has_a_negative_level_and_unsellable_returns() {
    let mut conn = bridge().await;
    let quantity: i32 = conn
        .exec_first(
            "SELECT quantity FROM stock_levels WHERE item_id = ? AND location_id = ?",
            (traps::NEGATIVE_LEVEL, catalog::SHOP),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(quantity, NEGATIVE_QUANTITY);

    let sellable: bool = conn
        .query_first("SELECT sellable FROM locations WHERE code = 'RETURNS'")
        .await
        .unwrap()
        .unwrap();
    assert!(!sellable);
    let locations: u64 = conn
        .query_first("SELECT COUNT(*) FROM locations")
        .await
        .unwrap()
        .unwrap();
    assert!(locations >= 4);
    let in_returns: i32 = conn
        .exec_first(
            "SELECT sl.quantity FROM stock_levels sl JOIN locations l ON l.id = sl.location_id \
             WHERE sl.item_id = ? AND l.code = 'RETURNS'",
            (traps::RETURNS_STOCK,),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(in_returns > 0);
}

#[tokio::test]
async fn the_latin1_supplier_note_round_trips() {
    let mut conn = bridge().await;
    let (note, hex, charset): (String, String, String) = conn
        .exec_first(
            "SELECT i.supplier_note, HEX(i.supplier_note), c.CHARACTER_SET_NAME FROM items i \
             JOIN information_schema.columns c ON c.table_schema = 'legacy' AND c.table_name = 'items' \
               AND c.column_name = 'supplier_note' \
             WHERE i.id = ?",
            (traps::LATIN1_NOTE,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(charset, "latin1");
    assert_eq!(note, LATIN1_NOTE_TEXT);
    // Stored as latin1 bytes: é = E9, ü = FC (not the two-byte UTF-8 forms).
    assert_eq!(hex, "436166E9204DFC6C6C657220737570706C696573");
}

#[tokio::test]
async fn names_hold_an_emoji_and_a_script_tag() {
    let mut conn = bridge().await;
    let sql = "SELECT name, LENGTH(name) - CHAR_LENGTH(name) FROM items WHERE id = ?";
    let (emoji, extra_bytes): (String, u64) = conn
        .exec_first(sql, (traps::EMOJI_NAME,))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(emoji, "Party Hat 🎉");
    assert_eq!(extra_bytes, 3, "🎉 is one character of four bytes");
    let (script, _): (String, u64) = conn
        .exec_first(sql, (traps::SCRIPT_NAME,))
        .await
        .unwrap()
        .unwrap();
    assert!(script.contains("<script>alert(1)</script>"), "{script}");
}

#[tokio::test]
async fn nulls_duplicates_and_deletions_are_there() {
    let mut conn = bridge().await;
    let description: Option<String> = conn
        .exec_first(
            "SELECT description FROM items WHERE id = ?",
            (traps::NULL_DESCRIPTION,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(description, None);

    let skus: Vec<String> = conn
        .exec(
            "SELECT sku FROM items WHERE id IN (?, ?)",
            (traps::DUPLICATE_SKU_A, traps::DUPLICATE_SKU_B),
        )
        .await
        .unwrap();
    assert_eq!(skus.len(), 2);
    assert_eq!(skus[0], skus[1]);

    let (image, mime): (Option<Vec<u8>>, Option<String>) = conn
        .exec_first(
            "SELECT image, image_mime FROM items WHERE id = ?",
            (traps::NO_IMAGE,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((image, mime), (None, None));

    let deleted: bool = conn
        .exec_first(
            "SELECT is_deleted FROM items WHERE id = ?",
            (traps::SOFT_DELETED,),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(deleted);
}

#[tokio::test]
async fn timestamps_carry_microseconds() {
    let mut conn = bridge().await;
    let precision: Vec<(String, u32)> = conn
        .query(
            "SELECT CONCAT(table_name, '.', column_name), DATETIME_PRECISION FROM information_schema.columns \
             WHERE table_schema = 'legacy' AND table_name IN ('items', 'stock_levels') AND data_type = 'datetime'",
        )
        .await
        .unwrap();
    assert_eq!(precision.len(), 3, "{precision:?}");
    assert!(precision.iter().all(|(_, p)| *p == 6), "{precision:?}");
    let micros: u32 = conn
        .exec_first(
            "SELECT MICROSECOND(updated_at) FROM items WHERE id = ?",
            (traps::LATIN1_NOTE,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_ne!(micros, 0);
}

async fn picture(id: u64) -> (Vec<u8>, String) {
    let mut conn = bridge().await;
    let (image, mime): (Option<Vec<u8>>, Option<String>) = conn
        .exec_first("SELECT image, image_mime FROM items WHERE id = ?", (id,))
        .await
        .unwrap()
        .unwrap();
    (image.expect("a picture"), mime.expect("a MIME type"))
}

/// `(marker, payload)` of each JPEG segment before the image data.
fn jpeg_segments(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    assert_eq!(&bytes[..2], [0xFF, 0xD8], "not a JPEG");
    let mut segments = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        segments.push((marker, &bytes[at + 4..at + 2 + len]));
        if marker == 0xDA {
            break;
        }
        at += 2 + len;
    }
    segments
}

#[tokio::test]
async fn one_picture_is_over_16_mib() {
    let mut conn = bridge().await;
    let big: Vec<(u64, u64)> = conn
        .exec(
            "SELECT id, LENGTH(image) FROM items WHERE LENGTH(image) > ?",
            (16u64 * 1024 * 1024,),
        )
        .await
        .unwrap();
    assert!(
        big.iter().any(|(id, _)| *id == traps::HUGE_PICTURE),
        "{big:?}"
    );
    // The bridge user can read it whole.
    let (bytes, mime) = picture(traps::HUGE_PICTURE).await;
    assert!(bytes.len() > 16 * 1024 * 1024);
    assert_eq!(mime, "image/png");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test]
async fn one_picture_is_a_cmyk_jpeg() {
    let (bytes, mime) = picture(traps::CMYK_JPEG).await;
    assert_eq!(mime, "image/jpeg");
    let segments = jpeg_segments(&bytes);
    let adobe = segments
        .iter()
        .find(|(m, _)| *m == 0xEE)
        .expect("an APP14 segment");
    assert!(adobe.1.starts_with(b"Adobe"));
    let sof = segments
        .iter()
        .find(|(m, _)| (0xC0..=0xC2).contains(m))
        .expect("a SOF segment");
    assert_eq!(sof.1[5], 4, "four components");
    // It decodes (to RGB) with the image crate, and the sky is not black.
    let rgb = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let sky = rgb.get_pixel(2, 2).0;
    assert!(
        sky.iter().map(|c| u32::from(*c)).sum::<u32>() > 300,
        "{sky:?}"
    );
}

#[tokio::test]
async fn one_picture_is_a_png_with_transparency() {
    let (bytes, mime) = picture(traps::ALPHA_PNG).await;
    assert_eq!(mime, "image/png");
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert!(decoded.color().has_alpha());
    let rgba = decoded.to_rgba8();
    assert!(rgba.pixels().any(|p| p.0[3] < 255), "a transparent pixel");
    assert!(rgba.pixels().any(|p| p.0[3] == 255), "an opaque pixel");
}

#[tokio::test]
async fn one_jpeg_relies_on_its_exif_orientation() {
    let (bytes, mime) = picture(traps::EXIF_ROTATED).await;
    assert_eq!(mime, "image/jpeg");
    let exif = jpeg_segments(&bytes)
        .into_iter()
        .find(|(m, p)| *m == 0xE1 && p.starts_with(b"Exif\0\0"))
        .expect("an EXIF APP1 segment")
        .1;
    assert_eq!(exif_orientation(&exif[6..]), Some(6));

    use image::ImageDecoder as _;
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(
        decoder.orientation().unwrap(),
        image::metadata::Orientation::Rotate90
    );
}

/// The Orientation (0x0112) of IFD0 in a TIFF structure, either byte order.
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(..2)? {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let u16_at = |at: usize| {
        let b = [*tiff.get(at)?, *tiff.get(at + 1)?];
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| {
        let b = [
            *tiff.get(at)?,
            *tiff.get(at + 1)?,
            *tiff.get(at + 2)?,
            *tiff.get(at + 3)?,
        ];
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = u32_at(4)? as usize;
    (0..usize::from(u16_at(ifd)?))
        .map(|i| ifd + 2 + i * 12)
        .find(|&entry| u16_at(entry) == Some(0x0112))
        .and_then(|entry| u16_at(entry + 8))
}

// (e) ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_simulator_changes_stock_and_the_binlog_shows_it() {
    let mut admin = admin().await;
    let before = master_status(&mut admin).await;
    let started: time::PrimitiveDateTime =
        admin.query_first("SELECT NOW(6)").await.unwrap().unwrap();

    let options = SimulateOptions {
        url: env("LEGACY_MYSQL_APP_URL"),
        ca: Some(ca()),
        seed: rand::rng().random(),
        rate: "50/s".parse().unwrap(),
        duration: None,
        count: Some(20),
        max_in_flight: 4,
    };
    let summary = simulate::run(options, std::future::pending())
        .await
        .unwrap();
    assert_eq!(summary.started, 20, "{summary}");
    assert_eq!(summary.committed() + summary.failed(), 20, "{summary}");
    assert!(summary.committed() >= 18, "{summary}");

    let changed: u64 = admin
        .exec_first(
            "SELECT (SELECT COUNT(*) FROM stock_levels WHERE updated_at >= ?) \
                  + (SELECT COUNT(*) FROM items WHERE updated_at >= ?)",
            (started, started),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(changed > 0, "no row changed since {started}");

    let events = binlog_events_since(&mut admin, &before).await;
    let legacy_rows = events
        .iter()
        .filter(|(kind, info)| {
            kind == "Table_map"
                && (info.contains("(legacy.items)") || info.contains("(legacy.stock_levels)"))
        })
        .count();
    let row_events = events
        .iter()
        .filter(|(kind, _)| {
            ["Write_rows", "Update_rows", "Delete_rows"]
                .iter()
                .any(|k| kind.starts_with(k))
        })
        .count();
    assert!(
        legacy_rows > 0 && row_events > 0,
        "no row events for the stock tables since {before:?}"
    );
}
