//! Source rows by column name, and the one conversion of a MySQL value into text. The snapshot
//! (text protocol: every value arrives as bytes) and the binlog (typed values) both go through
//! [`text_of`], so a value converts the same way whichever path it took.

use mysql_async::Value;
use std::sync::Arc;

/// A source row: its table's column names, in table order (shared by every row read with the same
/// table layout), and a value for each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row of `values`, one per name in `names` (missing ones are NULL, extra ones dropped).
    pub fn new(names: Arc<[String]>, mut values: Vec<Value>) -> Self {
        values.resize(names.len(), Value::NULL);
        Self { names, values }
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Value)>) -> Self {
        let (names, values): (Vec<String>, Vec<Value>) = pairs.into_iter().unzip();
        Self::new(names.into(), values)
    }

    pub fn get(&self, column: &str) -> Option<&Value> {
        let at = self.names.iter().position(|name| name == column)?;
        self.values.get(at)
    }

    pub fn set(&mut self, column: &str, value: Value) {
        match self.names.iter().position(|name| name == column) {
            Some(at) => self.values[at] = value,
            None => {
                let mut names = self.names.to_vec();
                names.push(column.to_owned());
                self.names = names.into();
                self.values.push(value);
            }
        }
    }
}

/// The value as text: `Ok(None)` for NULL or a missing column, `Err` when the bytes are not UTF-8.
/// Integers keep their sign (a `BIGINT UNSIGNED` above 2^63 arrives as `UInt`).
pub fn text_of(value: Option<&Value>) -> Result<Option<String>, String> {
    Ok(match value {
        None | Some(Value::NULL) => None,
        Some(Value::Bytes(bytes)) => {
            Some(String::from_utf8(bytes.clone()).map_err(|_| "not valid UTF-8".to_owned())?)
        }
        Some(Value::Int(i)) => Some(i.to_string()),
        Some(Value::UInt(u)) => Some(u.to_string()),
        Some(Value::Float(f)) => Some(f.to_string()),
        Some(Value::Double(d)) => Some(d.to_string()),
        Some(Value::Date(y, mo, d, h, mi, s, us)) => Some(format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"
        )),
        Some(Value::Time(neg, days, h, mi, s, us)) => {
            let sign = if *neg { "-" } else { "" };
            Some(format!(
                "{sign}{}:{mi:02}:{s:02}.{us:06}",
                u32::from(*h) + days * 24
            ))
        }
    })
}

/// MySQL's `latin1` (which is Windows-1252, with its five undefined bytes kept as the C1 controls
/// of the same number) as UTF-8. The binlog carries a latin1 column's bytes as stored; the snapshot
/// gets them converted by the server, so the binlog path converts them here to agree.
pub fn latin1_to_utf8(bytes: &[u8]) -> Vec<u8> {
    const CP1252_80_9F: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    let text: String = bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_80_9F[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect();
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_windows_1252() {
        assert_eq!(
            latin1_to_utf8(b"Caf\xe9 M\xfcller \x80 5 \x93ok\x94"),
            "Café Müller € 5 “ok”".as_bytes()
        );
        assert_eq!(latin1_to_utf8(b"plain"), b"plain");
        assert_eq!(latin1_to_utf8(b"\x81"), "\u{81}".as_bytes());
    }

    #[test]
    fn values_become_text_the_same_way_on_both_paths() {
        assert_eq!(
            text_of(Some(&Value::UInt(9_223_372_036_854_775_817))),
            Ok(Some("9223372036854775817".into()))
        );
        assert_eq!(
            text_of(Some(&Value::Bytes(b"9223372036854775817".to_vec()))),
            Ok(Some("9223372036854775817".into()))
        );
        assert_eq!(text_of(Some(&Value::Int(-5))), Ok(Some("-5".into())));
        assert_eq!(text_of(Some(&Value::NULL)), Ok(None));
        assert_eq!(text_of(None), Ok(None));
        assert!(text_of(Some(&Value::Bytes(vec![0xc3]))).is_err());
    }
}
