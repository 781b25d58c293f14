//! The stock side of the bridge → shop contract: the item key, the `stock_changed` notification
//! payload and the image status. The tables these describe are in `migrations/` (schema `stock`);
//! `docs/ARCHITECTURE.md` explains each column.

use std::fmt;

/// The channel the bridge notifies after each committed batch.
pub const STOCK_CHANGED_CHANNEL: &str = "stock_changed";

/// PostgreSQL refuses `NOTIFY` payloads of 8,000 bytes or more; stay clear of it.
pub const MAX_NOTIFY_PAYLOAD: usize = 7_900;

/// An item's identity: the legacy primary key in canonical text form (decimal for integer keys, so
/// a `BIGINT UNSIGNED` above 2^63 survives; composite keys join their parts with `|`). The SKU is an
/// editable attribute and never the key.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ItemKey(String);

impl ItemKey {
    pub fn new(canonical: impl Into<String>) -> Self {
        Self(canonical.into())
    }

    /// The key of a composite primary key, parts in key order. A `|` or `\` inside a part is escaped
    /// with `\` so two different keys never collide.
    pub fn composite<'a>(parts: impl IntoIterator<Item = &'a str>) -> Self {
        let escaped: Vec<String> = parts
            .into_iter()
            .map(|p| p.replace('\\', "\\\\").replace('|', "\\|"))
            .collect();
        Self(escaped.join("|"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The payload of `NOTIFY stock_changed`: which items a committed batch touched, or "everything"
/// when the list would not fit (a snapshot switch, a large transaction).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum StockChanged {
    /// `{"pos":"0-1-42","keys":["17","18"]}`: `pos` is the source position the batch was applied at.
    Keys { pos: String, keys: Vec<ItemKey> },
    /// `{"all":true}`: readers drop every cached item.
    All { all: AllTrue },
}

/// Serialises as `true` and refuses `false`, so `{"all":false}` is not a valid payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllTrue;

impl serde::Serialize for AllTrue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

impl<'de> serde::Deserialize<'de> for AllTrue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if bool::deserialize(d)? {
            Ok(Self)
        } else {
            Err(serde::de::Error::custom("\"all\" must be true"))
        }
    }
}

impl StockChanged {
    pub const fn all() -> Self {
        Self::All { all: AllTrue }
    }

    /// The payload for a batch: the keys (deduplicated, sorted) when they fit under
    /// [`MAX_NOTIFY_PAYLOAD`], `{"all":true}` otherwise.
    pub fn for_keys(pos: impl Into<String>, keys: impl IntoIterator<Item = ItemKey>) -> Self {
        let mut keys: Vec<ItemKey> = keys.into_iter().collect();
        keys.sort();
        keys.dedup();
        let payload = Self::Keys {
            pos: pos.into(),
            keys,
        };
        if payload.to_json().len() <= MAX_NOTIFY_PAYLOAD {
            payload
        } else {
            Self::all()
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain strings and bools cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"all":true}"#.to_owned())
    }

    /// Parses a payload; anything unreadable means "assume everything changed", never "nothing did".
    pub fn parse_or_all(payload: &str) -> Self {
        serde_json::from_str(payload).unwrap_or_else(|_| Self::all())
    }
}

/// The state of an item's picture in `stock.images`. "No picture" is not a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    /// The legacy row has no picture: the shop shows the placeholder, nothing is wrong.
    None,
    /// A job is queued or running: placeholder until it is ready.
    Pending,
    /// Thumbnails are in the bucket under the recorded keys.
    Ready,
    /// The picture could not be used (the error is recorded): placeholder.
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn payload_shapes_match_the_contract() {
        let p = StockChanged::for_keys(
            "0-1-42",
            [ItemKey::new("18"), ItemKey::new("17"), ItemKey::new("18")],
        );
        assert_eq!(p.to_json(), r#"{"pos":"0-1-42","keys":["17","18"]}"#);
        assert_eq!(StockChanged::all().to_json(), r#"{"all":true}"#);
        assert_eq!(
            StockChanged::parse_or_all(r#"{"all":true}"#),
            StockChanged::all()
        );
        assert_eq!(
            StockChanged::parse_or_all(r#"{"all":false}"#),
            StockChanged::all()
        );
        assert_eq!(StockChanged::parse_or_all("garbage"), StockChanged::all());
    }

    #[test]
    fn composite_keys_do_not_collide() {
        assert_ne!(
            ItemKey::composite(["a|b", "c"]),
            ItemKey::composite(["a", "b|c"])
        );
        assert_eq!(ItemKey::composite(["1", "2"]).as_str(), "1|2");
    }

    proptest! {
        #[test]
        fn payload_always_fits_and_round_trips(keys in proptest::collection::vec("[0-9]{1,20}", 0..2000)) {
            let p = StockChanged::for_keys("mariadb-bin.000001:4", keys.into_iter().map(ItemKey::new));
            let json = p.to_json();
            prop_assert!(json.len() < 8000);
            prop_assert_eq!(StockChanged::parse_or_all(&json), p);
        }
    }
}
