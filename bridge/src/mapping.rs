//! The mapping file: which legacy tables and columns make up the shop's stock record. The bridge's
//! code knows the *shape* of a stock record (items, the rows summed into their quantity, and lookup
//! tables for category names and sellable locations); the file says where each part lives in the
//! legacy schema. It is validated against the source at start-up, and every row is converted
//! through it into a [`Change`]. Converting never fails the stream: a row that will not convert is
//! quarantined with its reason.

use crate::source::values::{Row, text_of};
use anyhow::Context;
use contracts::{Currency, ItemKey, Money, Rounding, Sku};
use mysql_async::prelude::Queryable;
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub source: SourceSchema,
    pub items: ItemsMap,
    /// Quantities summed over the rows of another table; absent when the item row holds its
    /// quantity itself (`items.quantity`).
    pub levels: Option<LevelsMap>,
    pub categories: Option<LookupMap>,
    pub locations: Option<LookupMap>,
    /// Pictures kept in a table of their own (instead of `items.image`): several rows per item, the
    /// primary one shown.
    pub pictures: Option<PicturesMap>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSchema {
    pub schema: String,
    /// The zone the legacy app writes DATETIME values in (an IANA name, e.g. `Europe/London`);
    /// DATETIME has no zone of its own. Default `UTC`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsMap {
    pub table: String,
    pub key: String,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub price: String,
    pub currency: Currency,
    pub rounding: Rounding,
    pub vat_included: Option<String>,
    pub category: Option<String>,
    /// The picture's BLOB column. Never read in bulk: the snapshot asks the source for its SHA-256,
    /// the binlog path hashes the bytes the row image carries anyway.
    pub image: Option<String>,
    pub deleted: Option<SoftDelete>,
    /// The row's own last-change time (a DATETIME in `source.time_zone`), kept for staff as
    /// `stock.items.source_updated_at`.
    pub updated_at: Option<String>,
    /// The quantity on hand held in the item row itself (instead of `[levels]`).
    pub quantity: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftDelete {
    pub column: String,
    /// The value that means "deleted" (`"1"`, `"0"` for an "active" flag), or `"not_null"` for a
    /// `deleted_at` timestamp.
    pub deleted_when: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelsMap {
    pub table: String,
    pub key: String,
    pub item: String,
    pub quantity: String,
    pub location: Option<String>,
}

/// A table of pictures, several per item. Each row is mirrored by its key (with the hash of its
/// BLOB, never the bytes); an item's picture is its primary row: the first by `primary_order`
/// among the rows that hold a picture (not NULL), then by key.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PicturesMap {
    pub table: String,
    pub key: String,
    pub item: String,
    /// The BLOB column.
    pub image: String,
    /// Whole-number columns the primary picture sorts first by, in order; `-` before a name sorts
    /// that column descending (`["-is_primary", "position"]`: the flagged one, else the lowest
    /// position). NULL sorts last either way. Empty: the lowest key.
    #[serde(default)]
    pub primary_order: Vec<String>,
}

impl PicturesMap {
    /// `primary_order` as (column, descending).
    fn order(&self) -> impl Iterator<Item = (&str, bool)> {
        self.primary_order
            .iter()
            .map(|order| match order.strip_prefix('-') {
                Some(column) => (column, true),
                None => (order.as_str(), false),
            })
    }
}

/// A small table mirrored as (key → label, flag): category names, sellable locations.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupMap {
    pub table: String,
    pub key: String,
    pub label: Option<String>,
    pub flag: Option<String>,
}

/// Character sets whose bytes the binlog path turns into the same text as the snapshot's
/// connection gets (UTF-8 as it is, latin1 converted).
const KNOWN_CHARSETS: [&str; 5] = ["utf8mb4", "utf8mb3", "utf8", "ascii", "latin1"];

/// Why a mapped table does not fit the mapping, by kind.
#[derive(Debug, Default, Clone)]
pub struct TableProblems {
    /// The table's shape changed: gone, a mapped column gone or of a type that does not convert.
    /// A table the replica already follows is stopped for these; the others go on.
    pub shape: Vec<String>,
    /// The source is set up in a way the bridge cannot follow correctly at all (a character set it
    /// cannot read the same on both paths, not InnoDB, another primary key, a bad identifier):
    /// refused at start-up (exit 15) whatever the replica holds.
    pub setup: Vec<String>,
}

/// What a mapped column must hold for its value to convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Keys, text, flags: every SQL type reads as text.
    Any,
    /// A quantity: an integer type (a fraction or a word would not add up).
    WholeNumber,
    /// A price: a number or its decimal text.
    Number,
    /// The row's own DATETIME.
    DateTime,
}

impl ColumnKind {
    /// Whether a column of this SQL type (lower-case, as information_schema's DATA_TYPE names it
    /// or [`crate::source::binlog`] names a TABLE_MAP's column type) converts.
    pub fn accepts(self, sql_type: &str) -> bool {
        const WHOLE: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];
        const NOT_A_NUMBER: [&str; 13] = [
            "date",
            "time",
            "datetime",
            "timestamp",
            "year",
            "bit",
            "json",
            "geometry",
            "enum",
            "set",
            "point",
            "polygon",
            "linestring",
        ];
        match self {
            Self::Any => true,
            Self::WholeNumber => WHOLE.contains(&sql_type),
            Self::Number => !NOT_A_NUMBER.contains(&sql_type),
            Self::DateTime => sql_type == "datetime",
        }
    }

    pub const fn describe(self) -> &'static str {
        match self {
            Self::Any => "text",
            Self::WholeNumber => "a whole number (an integer type)",
            Self::Number => "a number",
            Self::DateTime => "a DATETIME",
        }
    }
}

/// Which part of the stock record a source table feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Items,
    Levels,
    Categories,
    Locations,
    Pictures,
}

impl Role {
    pub const fn lookup_name(self) -> &'static str {
        match self {
            Self::Categories => "categories",
            Self::Locations => "locations",
            Self::Items => "items",
            Self::Levels => "levels",
            Self::Pictures => "pictures",
        }
    }
}

/// One source row's effect on the stock record, already converted.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An item row now reads like this (`None`: the row was hard-deleted → tombstone).
    Item { key: ItemKey, row: Option<ItemRow> },
    /// A level row now reads like this (`None`: deleted).
    Level { key: String, row: Option<LevelRow> },
    /// A picture row now reads like this (`None`: deleted).
    Picture {
        key: String,
        row: Option<PictureRow>,
    },
    /// A lookup row now reads like this (`None`: deleted).
    Lookup {
        role: Role,
        key: String,
        row: Option<LookupRow>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    pub sku: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub category_key: Option<String>,
    pub price_minor: Option<i64>,
    pub price_includes_vat: bool,
    pub deleted: bool,
    /// Why the row is not sellable (conversion errors), without the position (added on apply).
    pub quarantine: Option<String>,
    /// The picture: `None` when the mapping has none, `Some(None)` for "no picture", else the hex
    /// SHA-256 of its bytes.
    pub image_sha256: Option<Option<String>>,
    /// The row's own DATETIME as `YYYY-MM-DD HH:MM:SS.ffffff` (local to `source.time_zone`);
    /// `None` when unmapped, NULL or not a real date (MySQL's `0000-00-00`).
    pub source_updated_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelRow {
    pub item_key: ItemKey,
    pub location_key: Option<String>,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureRow {
    pub item_key: ItemKey,
    /// Hex SHA-256 of the BLOB; `None`: NULL (the row holds no picture and is never primary).
    pub image_sha256: Option<String>,
    /// The `primary_order` values, descending ones negated, NULL as `i64::MAX`: the primary
    /// picture has the lowest.
    pub rank: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRow {
    pub label: Option<String>,
    pub flag: Option<bool>,
}

impl Mapping {
    /// Reads and parses a mapping file; errors name the file and the key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("mapping file {}", path.display()))?;
        let mapping: Self = contracts::settings::parse(
            &path.display().to_string(),
            Some(&text),
            std::iter::empty(),
            "",
        )
        .map_err(|e| anyhow::anyhow!("mapping {e}"))?;
        if mapping.pictures.is_some() && mapping.items.image.is_some() {
            anyhow::bail!(
                "mapping {}: give either items.image (the picture in the item row) or [pictures] (a table of its own), not both",
                path.display()
            );
        }
        if let Some(p) = &mapping.pictures
            && let Some((bad, _)) = p.order().find(|(column, _)| column.is_empty())
        {
            anyhow::bail!(
                "mapping {}: pictures.primary_order holds {bad:?}: give column names, `-` before one for descending",
                path.display()
            );
        }
        match (&mapping.levels, &mapping.items.quantity, &mapping.locations) {
            (Some(_), None, _) | (None, Some(_), None) => Ok(mapping),
            (Some(_), Some(_), _) => anyhow::bail!(
                "mapping {}: give either [levels] (quantities summed over another table's rows) or items.quantity (the quantity in the item row), not both",
                path.display()
            ),
            (None, None, _) => anyhow::bail!(
                "mapping {}: no quantity: give [levels] or items.quantity",
                path.display()
            ),
            (None, Some(_), Some(_)) => anyhow::bail!(
                "mapping {}: [locations] needs [levels] (a quantity in the item row has no location)",
                path.display()
            ),
        }
    }

    /// The table whose rows are mirrored as level rows: `[levels]`'s, or the item table itself when
    /// the item row holds the quantity.
    pub fn levels_table(&self) -> &str {
        self.levels
            .as_ref()
            .map_or(self.items.table.as_str(), |m| m.table.as_str())
    }

    /// The role of a source table, if the mapping watches it.
    pub fn role_of(&self, schema: &str, table: &str) -> Option<Role> {
        if schema != self.source.schema {
            return None;
        }
        if table == self.items.table {
            Some(Role::Items)
        } else if self.levels.as_ref().is_some_and(|m| m.table == table) {
            Some(Role::Levels)
        } else if self.categories.as_ref().is_some_and(|m| m.table == table) {
            Some(Role::Categories)
        } else if self.locations.as_ref().is_some_and(|m| m.table == table) {
            Some(Role::Locations)
        } else if self.pictures.as_ref().is_some_and(|m| m.table == table) {
            Some(Role::Pictures)
        } else {
            None
        }
    }

    pub fn table_of(&self, role: Role) -> Option<&str> {
        match role {
            Role::Items => Some(&self.items.table),
            Role::Levels => self.levels.as_ref().map(|m| m.table.as_str()),
            Role::Categories => self.categories.as_ref().map(|m| m.table.as_str()),
            Role::Locations => self.locations.as_ref().map(|m| m.table.as_str()),
            Role::Pictures => self.pictures.as_ref().map(|m| m.table.as_str()),
        }
    }

    /// The picture BLOB column of a role's table, if it has one.
    pub fn image_of(&self, role: Role) -> Option<&str> {
        match role {
            Role::Items => self.items.image.as_deref(),
            Role::Pictures => self.pictures.as_ref().map(|m| m.image.as_str()),
            _ => None,
        }
    }

    /// The key column of the table with `role`: the first of [`Mapping::columns_of`], without
    /// making the list (it is needed for every row change).
    pub fn key_column(&self, role: Role) -> &str {
        match role {
            Role::Items => &self.items.key,
            Role::Levels => self.levels.as_ref().map_or("", |m| m.key.as_str()),
            Role::Pictures => self.pictures.as_ref().map_or("", |m| m.key.as_str()),
            Role::Categories => self.categories.as_ref().map_or("", |m| m.key.as_str()),
            Role::Locations => self.locations.as_ref().map_or("", |m| m.key.as_str()),
        }
    }

    /// The mapped columns of a role's table (BLOBs are never among them: snapshot reads stay small).
    pub fn columns_of(&self, role: Role) -> Vec<&str> {
        let mut cols: Vec<&str> = match role {
            Role::Items => {
                let m = &self.items;
                let mut c = vec![m.key.as_str(), &m.sku, &m.name, &m.price];
                c.extend(m.description.as_deref());
                c.extend(m.vat_included.as_deref());
                c.extend(m.category.as_deref());
                c.extend(m.deleted.as_ref().map(|d| d.column.as_str()));
                c.extend(m.updated_at.as_deref());
                c.extend(m.quantity.as_deref());
                c
            }
            Role::Levels => {
                let Some(m) = &self.levels else {
                    return Vec::new();
                };
                let mut c = vec![m.key.as_str(), &m.item, &m.quantity];
                c.extend(m.location.as_deref());
                c
            }
            Role::Pictures => {
                let Some(m) = &self.pictures else {
                    return Vec::new();
                };
                let mut c = vec![m.key.as_str(), &m.item];
                c.extend(m.order().map(|(column, _)| column));
                c
            }
            Role::Categories | Role::Locations => {
                let Some(m) = (if role == Role::Categories {
                    &self.categories
                } else {
                    &self.locations
                }) else {
                    return Vec::new();
                };
                let mut c = vec![m.key.as_str()];
                c.extend(m.label.as_deref());
                c.extend(m.flag.as_deref());
                c
            }
        };
        let mut seen = BTreeSet::new();
        cols.retain(|c| seen.insert(*c));
        cols
    }

    pub fn roles(&self) -> Vec<Role> {
        [
            Role::Categories,
            Role::Locations,
            Role::Items,
            Role::Levels,
            Role::Pictures,
        ]
        .into_iter()
        .filter(|r| self.table_of(*r).is_some())
        .collect()
    }

    /// The roles whose table is `table` (the item table is also the levels table when it holds
    /// the quantity; only `Items` is returned then).
    pub fn role_of_table(&self, table: &str) -> Option<Role> {
        self.role_of(&self.source.schema, table)
    }

    /// What a mapped column of a role's table must hold for its conversion to work.
    pub fn kind_of(&self, role: Role, column: &str) -> ColumnKind {
        let quantity = match role {
            Role::Items => self.items.quantity.as_deref(),
            Role::Levels => self.levels.as_ref().map(|m| m.quantity.as_str()),
            Role::Categories | Role::Locations => None,
            Role::Pictures => {
                return if self
                    .pictures
                    .as_ref()
                    .is_some_and(|m| m.order().any(|(order, _)| order == column))
                {
                    ColumnKind::WholeNumber
                } else {
                    ColumnKind::Any
                };
            }
        };
        if quantity == Some(column) {
            ColumnKind::WholeNumber
        } else if role == Role::Items && column == self.items.price {
            ColumnKind::Number
        } else if role == Role::Items && self.items.updated_at.as_deref() == Some(column) {
            ColumnKind::DateTime
        } else {
            ColumnKind::Any
        }
    }

    /// Why a row image with these columns (names and SQL type names, as a TABLE_MAP gives them)
    /// can no longer be converted through the mapping: a mapped column missing (dropped or
    /// renamed) or of a type that does not convert. `None`: it fits (added columns are harmless).
    pub fn misfit(&self, role: Role, columns: &[(String, Option<&str>)]) -> Option<String> {
        let table = self.table_of(role).unwrap_or_default();
        let mut problems = Vec::new();
        for col in self.columns_of(role).into_iter().chain(self.image_of(role)) {
            match columns.iter().find(|(name, _)| name == col) {
                None => problems.push(format!(
                    "mapped column {}.{table}.{col} is gone (dropped or renamed)",
                    self.source.schema
                )),
                Some((_, Some(sql_type))) if !self.kind_of(role, col).accepts(sql_type) => {
                    problems.push(format!(
                        "mapped column {}.{table}.{col} is now a {sql_type}, which does not convert to {}",
                        self.source.schema,
                        self.kind_of(role, col).describe()
                    ));
                }
                Some(_) => {}
            }
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// Checks the mapping against the source: every table exists, is InnoDB and has a single-column
    /// primary key equal to the mapped key; every mapped column exists. Each problem is one line.
    pub async fn validate(&self, conn: &mut mysql_async::Conn) -> anyhow::Result<()> {
        let problems: Vec<String> = self
            .problems_by_table(conn)
            .await?
            .into_values()
            .flatten()
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(crate::source::checks::SourceProblem::Mapping(problems.join("; ")).into())
        }
    }

    /// The same checks, with the problems of each mapped table apart (tables that fit are absent),
    /// so one table that no longer fits can be stopped while the others go on.
    pub async fn problems_by_table(
        &self,
        conn: &mut mysql_async::Conn,
    ) -> anyhow::Result<std::collections::BTreeMap<String, Vec<String>>> {
        Ok(self
            .table_problems(conn)
            .await?
            .into_iter()
            .map(|(table, p)| (table, p.shape.into_iter().chain(p.setup).collect()))
            .collect())
    }

    /// The problems of each mapped table that has any, told apart by kind.
    pub async fn table_problems(
        &self,
        conn: &mut mysql_async::Conn,
    ) -> anyhow::Result<std::collections::BTreeMap<String, TableProblems>> {
        let mut by_table = std::collections::BTreeMap::new();
        for role in self.roles() {
            let problems = self.problems_of(role, conn).await?;
            if !problems.shape.is_empty() || !problems.setup.is_empty() {
                by_table.insert(self.table_of(role).unwrap_or_default().to_owned(), problems);
            }
        }
        Ok(by_table)
    }

    async fn problems_of(
        &self,
        role: Role,
        conn: &mut mysql_async::Conn,
    ) -> anyhow::Result<TableProblems> {
        let mut problems = Vec::new();
        let mut shape = Vec::new();
        for name in self
            .columns_of(role)
            .into_iter()
            .chain(self.table_of(role))
            .chain([self.source.schema.as_str()])
        {
            if name.contains('`') || name.is_empty() {
                problems.push(format!("{name:?} is not a usable identifier"));
            }
        }
        let table = self.table_of(role).unwrap_or_default();
        let engine: Option<Option<String>> = conn
            .exec_first(
                "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&self.source.schema, table),
            )
            .await?;
        match engine {
            None => {
                shape.push(format!(
                    "table {}.{table} does not exist (or the bridge user cannot SELECT it)",
                    self.source.schema
                ));
                return Ok(TableProblems {
                    shape,
                    setup: problems,
                });
            }
            Some(engine) if engine.as_deref() != Some("InnoDB") => problems.push(format!(
                "table {}.{table} is {}, not InnoDB: its changes are not transactional",
                self.source.schema,
                engine.unwrap_or_default()
            )),
            Some(_) => {}
        }
        let described: Vec<(String, Option<String>, String)> = conn
            .exec(
                "SELECT COLUMN_NAME, CHARACTER_SET_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&self.source.schema, table),
            )
            .await?;
        let columns: Vec<String> = described.iter().map(|(c, _, _)| c.clone()).collect();
        if role == Role::Items
            && let Some(col) = &self.items.updated_at
            && let Some((_, _, data_type)) = described.iter().find(|(c, _, _)| c == col)
            && !data_type.eq_ignore_ascii_case("datetime")
        {
            shape.push(format!(
                "column {}.{table}.{col} (items.updated_at) is a {data_type}, not a DATETIME",
                self.source.schema
            ));
        }
        for col in self.columns_of(role) {
            if let Some((_, _, data_type)) = described.iter().find(|(c, _, _)| c == col)
                && !self
                    .kind_of(role, col)
                    .accepts(&data_type.to_ascii_lowercase())
                && self.kind_of(role, col) != ColumnKind::DateTime
            {
                shape.push(format!(
                    "column {}.{table}.{col} is a {data_type}, which does not convert to {}",
                    self.source.schema,
                    self.kind_of(role, col).describe()
                ));
            }
            if let Some((_, Some(charset), _)) = described.iter().find(|(c, _, _)| c == col)
                && !KNOWN_CHARSETS.contains(&charset.as_str())
            {
                problems.push(format!(
                    "column {}.{table}.{col} is in character set {charset}; the bridge reads utf8mb4, utf8mb3, ascii and latin1 (convert the column, or leave it out of the mapping)",
                    self.source.schema
                ));
            }
        }
        for col in self.columns_of(role).into_iter().chain(self.image_of(role)) {
            if !columns.iter().any(|c| c == col) {
                shape.push(format!(
                    "column {}.{table}.{col} does not exist",
                    self.source.schema
                ));
            }
        }
        let pk: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
                (&self.source.schema, table),
            )
            .await?;
        let key = self
            .columns_of(role)
            .first()
            .map(|k| (*k).to_owned())
            .unwrap_or_default();
        if pk.is_empty() {
            problems.push(format!(
                "table {}.{table} has no primary key",
                self.source.schema
            ));
        } else if pk != [key.clone()] {
            problems.push(format!(
                "table {}.{table}: mapped key `{key}` is not its primary key ({})",
                self.source.schema,
                pk.join(", ")
            ));
        }
        Ok(TableProblems {
            shape,
            setup: problems,
        })
    }

    /// Converts one source row change (before and/or after image) of a table with `role`.
    pub fn convert(&self, role: Role, before: Option<&Row>, after: Option<&Row>) -> Vec<Change> {
        let key_col = self.key_column(role);
        let key_of = |row: &Row| text_of(row.get(key_col)).ok().flatten();
        let mut out = Vec::new();
        let before_key = before.and_then(key_of);
        let after_key = after.and_then(key_of);
        // A key that changed is a delete of the old key and an insert of the new one.
        if let Some(old) = &before_key
            && after_key.as_ref() != Some(old)
        {
            out.push(self.removed(role, old.clone()));
        }
        if let (Some(key), Some(row)) = (after_key, after) {
            out.push(self.present(role, key, row));
        } else if after.is_some() {
            tracing::error!(
                table = self.table_of(role).unwrap_or_default(),
                "row without a usable key skipped"
            );
            metrics::counter!("bridge_rows_unkeyed_total").increment(1);
        }
        // The item row holds its quantity: it is also the item's one level row (by the item's key).
        if role == Role::Items
            && let Some(column) = &self.items.quantity
        {
            let levels: Vec<Change> = out
                .iter()
                .filter_map(|change| match change {
                    Change::Item { key, row } => Some(Change::Level {
                        key: key.as_str().to_owned(),
                        row: row.as_ref().and(after).map(|after| {
                            let quantity = text_of(after.get(column))
                                .ok()
                                .flatten()
                                .and_then(|q| q.trim().parse::<i64>().ok());
                            if quantity.is_none() {
                                tracing::error!(table = %self.items.table, "item row with a NULL or non-numeric quantity counts as 0");
                            }
                            LevelRow {
                                item_key: key.clone(),
                                location_key: None,
                                quantity: quantity.unwrap_or(0),
                            }
                        }),
                    }),
                    _ => None,
                })
                .collect();
            out.extend(levels);
        }
        out
    }

    fn removed(&self, role: Role, key: String) -> Change {
        match role {
            Role::Items => Change::Item {
                key: ItemKey::new(key),
                row: None,
            },
            Role::Levels => Change::Level { key, row: None },
            Role::Pictures => Change::Picture { key, row: None },
            Role::Categories | Role::Locations => Change::Lookup {
                role,
                key,
                row: None,
            },
        }
    }

    fn present(&self, role: Role, key: String, row: &Row) -> Change {
        match role {
            Role::Items => Change::Item {
                key: ItemKey::new(key),
                row: Some(self.item_row(row)),
            },
            Role::Levels => Change::Level {
                key,
                row: self.level_row(row),
            },
            Role::Pictures => Change::Picture {
                key,
                row: self.picture_row(row),
            },
            Role::Categories | Role::Locations => {
                let m = if role == Role::Categories {
                    self.categories.as_ref()
                } else {
                    self.locations.as_ref()
                };
                let label = m
                    .and_then(|m| m.label.as_deref())
                    .and_then(|c| text_of(row.get(c)).ok().flatten());
                let flag = m
                    .and_then(|m| m.flag.as_deref())
                    .map(|c| truthy(text_of(row.get(c)).ok().flatten().as_deref()));
                Change::Lookup {
                    role,
                    key,
                    row: Some(LookupRow { label, flag }),
                }
            }
        }
    }

    fn item_row(&self, row: &Row) -> ItemRow {
        let m = &self.items;
        let mut problems = Vec::new();
        let mut text = |col: &str, required: bool| match text_of(row.get(col)) {
            Ok(Some(t)) => Some(t),
            Ok(None) if required => {
                problems.push(format!("{col} is NULL"));
                None
            }
            Ok(None) => None,
            Err(e) => {
                problems.push(format!("{col}: {e}"));
                None
            }
        };
        let sku_text = text(&m.sku, true);
        let name = text(&m.name, true).unwrap_or_default();
        let description = m.description.as_deref().and_then(|c| text(c, false));
        let category_key = m.category.as_deref().and_then(|c| text(c, false));
        let price_text = text(&m.price, true);
        let vat = m.vat_included.as_deref().map(|c| text(c, false));
        let deleted = m.deleted.as_ref().is_some_and(|d| {
            let value = text(&d.column, false);
            match d.deleted_when.as_str() {
                "not_null" => value.is_some(),
                wanted => value.as_deref().map(str::trim) == Some(wanted),
            }
        });
        let sku = sku_text.and_then(|s| match Sku::parse(&s) {
            Ok(sku) => Some(sku.as_str().to_owned()),
            Err(e) => {
                problems.push(format!("sku: {e}"));
                None
            }
        });
        let price_minor =
            price_text.and_then(
                |p| match Money::from_decimal_str(&p, m.currency, m.rounding) {
                    Ok(money) if money.minor < 0 => {
                        problems.push(format!("price {p} is negative"));
                        None
                    }
                    Ok(money) => Some(money.minor),
                    Err(e) => {
                        problems.push(format!("price: {e}"));
                        None
                    }
                },
            );
        let price_includes_vat = vat.is_none_or(|v| truthy(v.as_deref()));
        let image_sha256 = m.image.as_deref().map(|column| image_hash(row, column));
        let source_updated_at = m
            .updated_at
            .as_deref()
            .and_then(|c| text_of(row.get(c)).ok().flatten())
            .and_then(|t| local_datetime(&t));
        let quarantine = (!problems.is_empty()).then(|| problems.join("; "));
        ItemRow {
            sku,
            name,
            description,
            category_key,
            price_minor,
            price_includes_vat,
            deleted,
            quarantine,
            image_sha256,
            source_updated_at,
        }
    }

    fn picture_row(&self, row: &Row) -> Option<PictureRow> {
        let m = self.pictures.as_ref()?;
        let Some(item) = text_of(row.get(&m.item)).ok().flatten() else {
            // A picture of no item shows nowhere; it is not an error of the stock.
            tracing::warn!(table = %m.table, "picture row without an item ignored");
            return None;
        };
        let rank = m
            .order()
            .map(|(column, descending)| {
                text_of(row.get(column))
                    .ok()
                    .flatten()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .map_or(
                        i64::MAX,
                        |v| if descending { v.saturating_neg() } else { v },
                    )
            })
            .collect();
        Some(PictureRow {
            item_key: ItemKey::new(item),
            image_sha256: image_hash(row, &m.image),
            rank,
        })
    }

    fn level_row(&self, row: &Row) -> Option<LevelRow> {
        let m = self.levels.as_ref()?;
        let item = text_of(row.get(&m.item)).ok().flatten();
        let quantity = text_of(row.get(&m.quantity))
            .ok()
            .flatten()
            .and_then(|q| q.trim().parse::<i64>().ok());
        let location_key = m
            .location
            .as_deref()
            .and_then(|c| text_of(row.get(c)).ok().flatten());
        match (item, quantity) {
            (Some(item), Some(quantity)) => Some(LevelRow {
                item_key: ItemKey::new(item),
                location_key,
                quantity,
            }),
            _ => {
                // A level row that does not convert counts as absent (it adds nothing), loudly.
                tracing::error!(table = %m.table, "level row with a NULL or non-numeric item or quantity ignored");
                metrics::counter!("bridge_rows_quarantined_total", "table" => m.table.clone())
                    .increment(1);
                None
            }
        }
    }
}

/// A DATETIME's text (`2026-11-25 10:00:00` or with up to 6 fraction digits, as both paths give
/// it) normalised to 6 fraction digits; `None` for what is not a real date and time (MySQL's zero
/// dates), which PostgreSQL would refuse.
pub fn local_datetime(text: &str) -> Option<String> {
    let (date, time) = text.trim().split_once(' ')?;
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let fraction: String = fraction.chars().chain("000000".chars()).take(6).collect();
    let date = time::Date::parse(
        date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let time = time::Time::parse(
        time,
        time::macros::format_description!("[hour]:[minute]:[second]"),
    )
    .ok()?;
    fraction.bytes().all(|b| b.is_ascii_digit()).then(|| {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{fraction}",
            date.year(),
            u8::from(date.month()),
            date.day(),
            time.hour(),
            time.minute(),
            time.second()
        )
    })
}

/// The column the snapshot selects the picture's hash into (`SHA2(image, 256) AS image__sha256`).
pub fn image_hash_column(column: &str) -> String {
    format!("{column}__sha256")
}

/// The hex SHA-256 of a row's picture: from the snapshot's hash column when present, else hashed
/// from the bytes (binlog rows carry them). `None`: no picture.
fn image_hash(row: &Row, column: &str) -> Option<String> {
    use sha2::Digest;
    if let Some(hash) = row.get(&image_hash_column(column)) {
        return text_of(Some(hash))
            .ok()
            .flatten()
            .map(|h| h.to_ascii_lowercase());
    }
    match row.get(column) {
        // An empty BLOB is a (bad) picture, as the snapshot's SHA2 says too; NULL is none.
        Some(mysql_async::Value::Bytes(bytes)) => {
            let digest = sha2::Sha256::digest(bytes);
            Some(digest.iter().map(|b| format!("{b:02x}")).collect())
        }
        _ => None,
    }
}

fn truthy(value: Option<&str>) -> bool {
    matches!(value.map(str::trim), Some(v) if v != "0" && !v.is_empty() && !v.eq_ignore_ascii_case("false"))
}

#[cfg(test)]
mod tests {

    #[test]
    fn datetimes_are_normalised_and_zero_dates_dropped() {
        assert_eq!(
            local_datetime("2026-07-01 12:00:00").as_deref(),
            Some("2026-07-01 12:00:00.000000")
        );
        assert_eq!(
            local_datetime("2026-07-01 12:00:00.25").as_deref(),
            Some("2026-07-01 12:00:00.250000")
        );
        assert_eq!(local_datetime("0000-00-00 00:00:00"), None);
        assert_eq!(local_datetime("2026-02-30 00:00:00"), None);
        assert_eq!(local_datetime("yesterday"), None);
    }

    use super::*;
    use mysql_async::Value;

    fn demo() -> Mapping {
        let text = include_str!("../mappings/demo.toml");
        contracts::settings::parse("demo.toml", Some(text), std::iter::empty(), "").unwrap()
    }

    fn row(pairs: &[(&str, Value)]) -> Row {
        Row::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())))
    }

    fn item(id: Value, price: &str, deleted: i64) -> Row {
        row(&[
            ("id", id),
            ("sku", Value::Bytes(b"FH-1".to_vec())),
            ("name", Value::Bytes("Party Hat 🎉".as_bytes().to_vec())),
            ("description", Value::NULL),
            ("category_id", Value::UInt(3)),
            ("price", Value::Bytes(price.as_bytes().to_vec())),
            ("vat_included", Value::Int(1)),
            ("is_deleted", Value::Int(deleted)),
        ])
    }

    #[test]
    fn the_demo_mapping_parses_and_names_its_tables() {
        let m = demo();
        assert_eq!(m.role_of("legacy", "stock_levels"), Some(Role::Levels));
        assert_eq!(m.role_of("legacy", "id_sequences"), None);
        assert_eq!(m.role_of("other", "items"), None);
        assert!(
            !m.columns_of(Role::Items).contains(&"image"),
            "BLOBs stay out of mapped reads"
        );
        // The key read for every row change is the column the snapshot reads first.
        for role in [Role::Items, Role::Levels, Role::Categories, Role::Locations] {
            assert_eq!(m.key_column(role), m.columns_of(role)[0], "{role:?}");
        }
    }

    #[test]
    fn items_convert_with_big_keys_and_quarantine_odd_prices() {
        let m = demo();
        let big = item(Value::UInt(9_223_372_036_854_775_817), "12.5000", 0);
        let changes = m.convert(Role::Items, None, Some(&big));
        let Change::Item {
            key,
            row: Some(row),
        } = &changes[0]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(key.as_str(), "9223372036854775817");
        assert_eq!(row.price_minor, Some(1250));
        assert_eq!(row.description, None);
        assert_eq!(row.category_key.as_deref(), Some("3"));
        assert!(row.quarantine.is_none());

        let odd = item(Value::Int(2), "19.9950", 1);
        let Change::Item { row: Some(row), .. } = &m.convert(Role::Items, None, Some(&odd))[0]
        else {
            panic!()
        };
        assert_eq!(row.price_minor, None);
        assert!(row.deleted);
        assert!(
            row.quarantine.as_deref().unwrap().contains("price"),
            "{row:?}"
        );

        let negative = item(Value::Int(3), "-1.00", 0);
        let Change::Item { row: Some(row), .. } = &m.convert(Role::Items, None, Some(&negative))[0]
        else {
            panic!()
        };
        assert!(row.quarantine.as_deref().unwrap().contains("negative"));

        let mut bad_bytes = item(Value::Int(4), "1.00", 0);
        bad_bytes.set("name", Value::Bytes(vec![0xff, 0xfe]));
        let Change::Item { row: Some(row), .. } =
            &m.convert(Role::Items, None, Some(&bad_bytes))[0]
        else {
            panic!()
        };
        assert!(row.quarantine.as_deref().unwrap().contains("name"));
    }

    #[test]
    fn a_level_moving_between_items_removes_then_adds() {
        let m = demo();
        let level = |item: u64| {
            row(&[
                ("id", Value::Int(7)),
                ("item_id", Value::UInt(item)),
                ("quantity", Value::Int(-2)),
                ("location_id", Value::UInt(1)),
            ])
        };
        let changes = m.convert(Role::Levels, Some(&level(1)), Some(&level(2)));
        assert_eq!(
            changes.len(),
            1,
            "same level key: one upsert naming the new item"
        );
        let Change::Level { row: Some(row), .. } = &changes[0] else {
            panic!()
        };
        assert_eq!((row.item_key.as_str(), row.quantity), ("2", -2));
        let gone = m.convert(Role::Levels, Some(&level(1)), None);
        assert_eq!(
            gone,
            vec![Change::Level {
                key: "7".into(),
                row: None
            }]
        );
    }

    #[test]
    fn a_row_image_without_a_mapped_column_or_with_a_type_that_does_not_convert_misfits() {
        let m = demo();
        fn levels(quantity_type: &'static str) -> Vec<(String, Option<&'static str>)> {
            vec![
                ("id".into(), Some("int")),
                ("item_id".into(), Some("bigint")),
                ("location_id".into(), Some("int")),
                ("quantity".into(), Some(quantity_type)),
                ("added_later".into(), Some("json")),
            ]
        }
        assert_eq!(
            m.misfit(Role::Levels, &levels("int")),
            None,
            "an added column is harmless"
        );
        let wordy = m.misfit(Role::Levels, &levels("varchar")).unwrap();
        assert!(
            wordy.contains("legacy.stock_levels.quantity") && wordy.contains("does not convert"),
            "{wordy}"
        );
        let mut dropped = levels("int");
        dropped.retain(|(name, _)| name != "location_id");
        let gone = m.misfit(Role::Levels, &dropped).unwrap();
        assert!(gone.contains("stock_levels.location_id is gone"), "{gone}");
        assert!(ColumnKind::Number.accepts("decimal") && ColumnKind::Number.accepts("varchar"));
        assert!(!ColumnKind::Number.accepts("datetime"));
        assert!(
            ColumnKind::WholeNumber.accepts("bigint")
                && !ColumnKind::WholeNumber.accepts("decimal")
        );
        assert!(ColumnKind::DateTime.accepts("datetime") && !ColumnKind::DateTime.accepts("date"));
    }

    #[test]
    fn soft_delete_polarities() {
        let mut m = demo();
        m.items.deleted = Some(SoftDelete {
            column: "is_deleted".into(),
            deleted_when: "0".into(),
        });
        let Change::Item { row: Some(row), .. } =
            &m.convert(Role::Items, None, Some(&item(Value::Int(1), "1", 0)))[0]
        else {
            panic!()
        };
        assert!(row.deleted, "active flag 0 means deleted");
        m.items.deleted = Some(SoftDelete {
            column: "is_deleted".into(),
            deleted_when: "not_null".into(),
        });
        let Change::Item { row: Some(row), .. } =
            &m.convert(Role::Items, None, Some(&item(Value::Int(1), "1", 0)))[0]
        else {
            panic!()
        };
        assert!(row.deleted, "a timestamp present means deleted");
    }
}
