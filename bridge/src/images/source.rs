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
}

impl Pictures {
    /// `None` when the mapping has no picture column.
    pub async fn new(
        opts: mysql_async::Opts,
        mapping: &Mapping,
        connections: usize,
    ) -> anyhow::Result<Option<Self>> {
        let Some(image) = &mapping.items.image else {
            return Ok(None);
        };
        let table = format!(
            "{}.{}",
            ident(&mapping.source.schema),
            ident(&mapping.items.table)
        );
        let key = ident(&mapping.items.key);
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
                (&mapping.source.schema, &mapping.items.table, &mapping.items.key),
            )
            .await
            .context("reading the item key's type")?;
        drop(conn);
        let data_type = data_type.with_context(|| {
            format!(
                "column {}.{} not found",
                mapping.items.table, mapping.items.key
            )
        })?;
        Ok(Some(Self {
            pool,
            length_sql: format!(
                "SELECT OCTET_LENGTH({image}) FROM {table} WHERE {key} = ?",
                image = ident(image)
            ),
            bytes_sql: format!(
                "SELECT {image} FROM {table} WHERE {key} = ?",
                image = ident(image)
            ),
            integer_key: data_type.to_ascii_lowercase().ends_with("int"),
        }))
    }

    /// Reads an item's picture, refusing to read one over `max_bytes`.
    pub async fn fetch(&self, item_key: &str, max_bytes: usize) -> anyhow::Result<Fetched> {
        let key = self.key_param(item_key)?;
        let mut conn = self
            .pool
            .get_conn()
            .await
            .context("cannot connect to the legacy database")?;
        let length: Option<Option<u64>> = conn
            .exec_first(&self.length_sql, (key.clone(),))
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
            .exec_first(&self.bytes_sql, (key,))
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
