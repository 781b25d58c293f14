//! Reading one item's picture from the legacy database, with the bridge's SELECT grant: the image
//! job carries only the item key and the hash, so the latest picture always wins.

use crate::mapping::Mapping;
use anyhow::Context;
use mysql_async::prelude::Queryable;

/// What the source holds for an item's picture right now.
#[derive(Debug)]
pub enum Fetched {
    /// The item or its picture is gone (a later change will say what to show).
    Gone,
    /// Bigger than the byte limit: not read.
    TooLarge(usize),
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct Pictures {
    pool: mysql_async::Pool,
    length_sql: String,
    bytes_sql: String,
    integer_key: bool,
    /// `[pictures]`: the row is found by the item and the picture's hash.
    by_hash: bool,
}

impl Pictures {
    /// `None` when the mapping has no pictures. With a picture column in the item row the item's
    /// row is read; with `[pictures]` the item's picture row holding the job's hash (the primary one
    /// when the job was queued: if it is gone or changed since, a later job has the new one).
    pub async fn new(
        opts: mysql_async::Opts,
        mapping: &Mapping,
        connections: usize,
    ) -> anyhow::Result<Option<Self>> {
        let (table, key, image, by_hash) = match (&mapping.items.image, &mapping.pictures) {
            (Some(image), _) => (&mapping.items.table, &mapping.items.key, image, false),
            (None, Some(p)) => (&p.table, &p.item, &p.image, true),
            (None, None) => return Ok(None),
        };
        let key_column = key.clone();
        let table_name = table.clone();
        let table = format!("{}.{}", ident(&mapping.source.schema), ident(table));
        let key = ident(key);
        let filter = if by_hash {
            format!(
                "{key} = ? AND SHA2({image}, 256) = ? LIMIT 1",
                image = ident(image)
            )
        } else {
            format!("{key} = ?")
        };
        // Few connections, none kept idle: the legacy database is the stock staff's.
        let constraints =
            mysql_async::PoolConstraints::new(0, connections.max(1)).context("pool size")?;
        let pool = mysql_async::Pool::new(
            mysql_async::OptsBuilder::from_opts(opts)
                .pool_opts(mysql_async::PoolOpts::default().with_constraints(constraints)),
        );
        let mut conn = pool
            .get_conn()
            .await
            .context("cannot connect to the legacy database")?;
        let data_type: Option<String> = conn
            .exec_first(
                "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
                (&mapping.source.schema, &table_name, &key_column),
            )
            .await
            .context("reading the item key's type")?;
        drop(conn);
        let data_type =
            data_type.with_context(|| format!("column {table_name}.{key_column} not found"))?;
        Ok(Some(Self {
            pool,
            length_sql: format!(
                "SELECT OCTET_LENGTH({image}) FROM {table} WHERE {filter}",
                image = ident(image)
            ),
            bytes_sql: format!(
                "SELECT {image} FROM {table} WHERE {filter}",
                image = ident(image)
            ),
            integer_key: data_type.to_ascii_lowercase().ends_with("int"),
            by_hash,
        }))
    }

    /// Reads an item's picture (the one with hex SHA-256 `sha` with `[pictures]`), refusing to
    /// read one over `max_bytes`.
    pub async fn fetch(
        &self,
        item_key: &str,
        sha: &str,
        max_bytes: usize,
    ) -> anyhow::Result<Fetched> {
        let key = self.key_param(item_key)?;
        let params = |key: mysql_async::Value| -> Vec<mysql_async::Value> {
            if self.by_hash {
                vec![key, mysql_async::Value::Bytes(sha.as_bytes().to_vec())]
            } else {
                vec![key]
            }
        };
        let mut conn = self
            .pool
            .get_conn()
            .await
            .context("cannot connect to the legacy database")?;
        let length: Option<Option<u64>> = conn
            .exec_first(&self.length_sql, params(key.clone()))
            .await
            .context("reading the picture's size")?;
        let Some(Some(length)) = length else {
            return Ok(Fetched::Gone);
        };
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if length > max_bytes {
            return Ok(Fetched::TooLarge(length));
        }
        let bytes: Option<Option<Vec<u8>>> = conn
            .exec_first(&self.bytes_sql, params(key))
            .await
            .context("reading the picture")?;
        Ok(match bytes {
            Some(Some(bytes)) => Fetched::Bytes(bytes),
            _ => Fetched::Gone,
        })
    }

    /// The key as the column's own type: an integer key compared with a string would be compared
    /// as a double, which is wrong above 2^53.
    fn key_param(&self, item_key: &str) -> anyhow::Result<mysql_async::Value> {
        if !self.integer_key {
            return Ok(mysql_async::Value::Bytes(item_key.as_bytes().to_vec()));
        }
        if let Ok(v) = item_key.parse::<i64>() {
            return Ok(mysql_async::Value::Int(v));
        }
        item_key
            .parse::<u64>()
            .map(mysql_async::Value::UInt)
            .with_context(|| format!("item key {item_key:?} is not an integer"))
    }

    pub async fn close(self) {
        self.pool.disconnect().await.ok();
    }
}

/// A MySQL identifier, quoted.
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
