//! Row images of a rows event, decoded against their table map's layout, worked out once per table
//! map. mysql_common's own iterator builds a full column description (schema, table and column
//! names, each copied) for every column of every row, and parses the table map's optional metadata
//! again for every row: reading rows without them took a third off the bridge's CPU in a catch-up
//! (docs/BENCHMARKS.md). Each value is still decoded by mysql_common (`BinlogValue`); only the
//! framing — which columns an image holds, which are NULL — is read here, as the MySQL binlog
//! format lays it out. A before image yields only its key: a change is keyed by it, and the after
//! image (or the delete) carries the rest.

use super::values::{Row, latin1_to_utf8};
use mysql_async::Value;
use mysql_async::binlog::events::{OptionalMetaExtractor, RowsEventData, TableMapEvent};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::consts::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::proto::MyDeserialize;
use std::collections::HashSet;
use std::io;
use std::sync::Arc;

/// `value_options` bit of a partial update's after image: some JSON columns hold a diff.
const PARTIAL_JSON_UPDATES: u64 = 1;

/// How a table's rows are laid out in its row events.
#[derive(Debug)]
pub struct Layout {
    names: Arc<[String]>,
    columns: Vec<Column>,
    /// The column a before image is read for.
    key: Option<usize>,
}

#[derive(Debug)]
struct Column {
    kind: ColumnType,
    meta: Vec<u8>,
    unsigned: bool,
    /// A `latin1` text column: its bytes become UTF-8 (the snapshot's connection gets them so).
    latin1: bool,
}

impl Layout {
    /// The layout of `tme`'s table, whose columns are `names` (in table order); `key` is the
    /// column a change is keyed by, `latin1` the table's `latin1` text columns.
    pub fn of(
        tme: &TableMapEvent<'_>,
        names: Arc<[String]>,
        key: &str,
        latin1: Option<&HashSet<String>>,
    ) -> io::Result<Self> {
        let optional = OptionalMetaExtractor::new(tme.iter_optional_meta())?;
        let mut signedness = optional.iter_signedness();
        let mut columns = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let kind = tme
                .get_column_type(i)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("no type for column {i}"),
                    )
                })?;
            // As mysql_common reads it: one signedness bit per numeric column, in order.
            let unsigned = kind.is_numeric_type() && signedness.next().unwrap_or_default();
            columns.push(Column {
                kind,
                meta: tme.get_column_metadata(i).unwrap_or(&[]).to_vec(),
                unsigned,
                latin1: latin1.is_some_and(|cols| cols.contains(name)),
            });
        }
        Ok(Self {
            key: names.iter().position(|n| n == key),
            names,
            columns,
        })
    }

    /// Each row of `event` as (before image, after image); a before image holds only the key
    /// (the other columns NULL).
    pub fn rows<'a>(
        &'a self,
        event: &'a RowsEventData<'a>,
    ) -> impl Iterator<Item = io::Result<(Option<Row>, Option<Row>)>> + 'a {
        let mut data = ParseBuf(event.rows_data());
        let partial = matches!(event, RowsEventData::PartialUpdateRowsEvent(_));
        // Which columns each image holds (one bit per column of the table).
        let before: Option<Vec<bool>> = event
            .columns_before_image()
            .map(|b| b.iter().by_vals().collect());
        let after: Option<Vec<bool>> = event
            .columns_after_image()
            .map(|b| b.iter().by_vals().collect());
        let mut failed = false;
        std::iter::from_fn(move || {
            if data.is_empty() || failed {
                return None;
            }
            let row = (|| {
                let old = before
                    .as_deref()
                    .map(|present| self.image(&mut data, present, true, false))
                    .transpose()?;
                let new = after
                    .as_deref()
                    .map(|present| self.image(&mut data, present, false, partial))
                    .transpose()?;
                Ok((old, new))
            })();
            failed = row.is_err();
            Some(row)
        })
    }

    /// One row image: which of `present`'s columns are NULL, then each other one's value.
    fn image(
        &self,
        data: &mut ParseBuf<'_>,
        present: &[bool],
        only_key: bool,
        partial: bool,
    ) -> io::Result<Row> {
        // A partial update's after image starts with its options, and which JSON columns hold a
        // diff (one bit per JSON column of the table, in order).
        let mut partial_json = None;
        if partial {
            let options = data.checked_eat_lenenc_int().ok_or_else(early_end)?;
            if options & PARTIAL_JSON_UPDATES != 0 {
                let json = self
                    .columns
                    .iter()
                    .filter(|c| c.kind == ColumnType::MYSQL_TYPE_JSON)
                    .count();
                partial_json = Some((take(data, json.div_ceil(8))?, 0usize));
            }
        }
        let count = present.iter().filter(|b| **b).count();
        let nulls = take(data, count.div_ceil(8))?;
        let mut values = Vec::with_capacity(self.columns.len());
        let mut in_image = 0usize;
        for (i, column) in self.columns.iter().enumerate() {
            let is_partial = column.kind == ColumnType::MYSQL_TYPE_JSON
                && partial_json.as_mut().is_some_and(|(bits, n)| {
                    let bit = bit(bits, *n);
                    *n += 1;
                    bit
                });
            if !present.get(i).copied().unwrap_or(false) {
                values.push(Value::NULL);
                continue;
            }
            let null = bit(nulls, in_image);
            in_image += 1;
            // A before image is read for its key only: its other columns are passed over,
            // without decoding when their type allows it. A NULL takes no bytes.
            let wanted = !only_key || self.key == Some(i);
            if null || (!wanted && skip(column, data)?) {
                values.push(Value::NULL);
                continue;
            }
            let ctx = (
                column.kind,
                column.meta.as_slice(),
                column.unsigned,
                is_partial,
            );
            // The value may borrow from the metadata as well as the event: read it from a copy
            // of the buffer that lives no longer than both, then move past it.
            let mut here = ParseBuf(data.0);
            let decoded = BinlogValue::deserialize(ctx, &mut here)?;
            data.skip(data.len() - here.len());
            values.push(match decoded {
                _ if !wanted => Value::NULL,
                BinlogValue::Value(Value::Bytes(bytes)) if column.latin1 => {
                    Value::Bytes(latin1_to_utf8(&bytes))
                }
                BinlogValue::Value(value) => value,
                // JSON documents and diffs are not mapped.
                _ => Value::NULL,
            });
        }
        Ok(Row::new(self.names.clone(), values))
    }
}

/// Bit `n` of a MySQL bitmap (least significant bit first).
fn bit(bytes: &[u8], n: usize) -> bool {
    bytes.get(n / 8).is_some_and(|b| b >> (n % 8) & 1 == 1)
}

fn take<'a>(data: &mut ParseBuf<'a>, n: usize) -> io::Result<&'a [u8]> {
    data.checked_eat(n).ok_or_else(early_end)
}

fn early_end() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "row image ends early")
}

/// Passes over a value without reading it, for the variable-length types (text, blobs, strings)
/// a before image would otherwise copy; `false` for other types (they are decoded and dropped).
fn skip(column: &Column, data: &mut ParseBuf<'_>) -> io::Result<bool> {
    use ColumnType::*;
    let length = match column.kind {
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB => {
            match column.meta.first() {
                Some(1) => data.checked_eat_u8().map(usize::from),
                Some(2) => data.checked_eat_u16_le().map(usize::from),
                Some(3) => data.checked_eat_u24_le().map(|n| n as usize),
                Some(4) => data.checked_eat_u32_le().map(|n| n as usize),
                _ => return Ok(false),
            }
        }
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING => {
            let declared = match column.meta.as_slice() {
                [low, high, ..] => u16::from_le_bytes([*low, *high]),
                _ => return Ok(false),
            };
            if declared < 256 {
                data.checked_eat_u8().map(usize::from)
            } else {
                data.checked_eat_u16_le().map(usize::from)
            }
        }
        _ => return Ok(false),
    };
    take(data, length.ok_or_else(early_end)?)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `id INT, name VARCHAR(40) latin1, note BLOB`, keyed by `id`.
    fn layout() -> Layout {
        let names: Arc<[String]> = ["id", "name", "note"].map(String::from).into();
        let column = |kind, meta: &[u8], latin1| Column {
            kind,
            meta: meta.to_vec(),
            unsigned: false,
            latin1,
        };
        Layout {
            names,
            columns: vec![
                column(ColumnType::MYSQL_TYPE_LONG, &[], false),
                column(ColumnType::MYSQL_TYPE_VARCHAR, &[40, 0], true),
                column(ColumnType::MYSQL_TYPE_BLOB, &[2], false),
            ],
            key: Some(0),
        }
    }

    /// An image of all three columns: `id`, `name` (latin1 bytes), `note` (NULL when None).
    fn image(id: i32, name: &[u8], note: Option<&[u8]>) -> Vec<u8> {
        let mut bytes = vec![if note.is_none() { 0b100 } else { 0 }];
        bytes.extend(id.to_le_bytes());
        bytes.push(name.len() as u8);
        bytes.extend(name);
        if let Some(note) = note {
            bytes.extend((note.len() as u16).to_le_bytes());
            bytes.extend(note);
        }
        bytes
    }

    #[test]
    fn an_image_decodes_by_column_with_nulls_and_latin1() {
        let layout = layout();
        let bytes = image(7, b"Caf\xe9", None);
        let mut data = ParseBuf(&bytes);
        let row = layout.image(&mut data, &[true; 3], false, false).unwrap();
        assert!(data.is_empty(), "the whole image was read");
        assert_eq!(row.get("id"), Some(&Value::Int(7)));
        assert_eq!(row.get("name"), Some(&Value::Bytes("Café".into())));
        assert_eq!(row.get("note"), Some(&Value::NULL));
    }

    #[test]
    fn a_before_image_keeps_only_its_key_and_the_next_image_follows_it() {
        let layout = layout();
        let mut bytes = image(7, b"old name", Some(b"a long note"));
        bytes.extend(image(8, b"new name", Some(b"note")));
        let mut data = ParseBuf(&bytes);
        let before = layout.image(&mut data, &[true; 3], true, false).unwrap();
        assert_eq!(before.get("id"), Some(&Value::Int(7)));
        assert_eq!(before.get("name"), Some(&Value::NULL));
        assert_eq!(before.get("note"), Some(&Value::NULL));
        let after = layout.image(&mut data, &[true; 3], false, false).unwrap();
        assert!(data.is_empty());
        assert_eq!(after.get("id"), Some(&Value::Int(8)));
        assert_eq!(after.get("name"), Some(&Value::Bytes(b"new name".to_vec())));
        assert_eq!(after.get("note"), Some(&Value::Bytes(b"note".to_vec())));
    }

    #[test]
    fn a_column_left_out_of_the_image_is_null_and_takes_no_null_bit() {
        let layout = layout();
        // Only `id` and `note`: the null bitmap has two bits, `note` (the second) NULL.
        let mut bytes = vec![0b10];
        bytes.extend(9i32.to_le_bytes());
        let mut data = ParseBuf(&bytes);
        let row = layout
            .image(&mut data, &[true, false, true], false, false)
            .unwrap();
        assert!(data.is_empty());
        assert_eq!(row.get("id"), Some(&Value::Int(9)));
        assert_eq!(row.get("name"), Some(&Value::NULL));
        assert_eq!(row.get("note"), Some(&Value::NULL));
    }

    #[test]
    fn a_cut_image_is_an_error_not_a_short_row() {
        let layout = layout();
        let bytes = image(7, b"name", Some(b"a note"));
        for cut in [0, 3, 6, bytes.len() - 1] {
            let mut data = ParseBuf(&bytes[..cut]);
            assert!(
                layout.image(&mut data, &[true; 3], false, false).is_err(),
                "cut at {cut}"
            );
            let mut data = ParseBuf(&bytes[..cut]);
            assert!(
                layout.image(&mut data, &[true; 3], true, false).is_err(),
                "cut at {cut}"
            );
        }
    }
}
