//! `Sku`: the stock-keeping unit as staff type it in the legacy app. It is an editable attribute of an
//! item, never its identity (the identity is the legacy primary key, [`crate::ItemKey`]).

use std::fmt;

/// Longest SKU accepted; the legacy column is `VARCHAR(64)`.
pub const MAX_SKU_LEN: usize = 64;

/// A trimmed, non-empty SKU of printable characters without whitespace inside.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SkuError {
    #[error("SKU is empty")]
    Empty,
    #[error("SKU is longer than {MAX_SKU_LEN} characters")]
    TooLong,
    #[error("SKU contains whitespace or a control character")]
    BadCharacter,
}

impl Sku {
    /// Parses a SKU as stored by the legacy app: surrounding whitespace is dropped, case is kept
    /// (staff may rely on it), inner whitespace and control characters are refused.
    pub fn parse(raw: &str) -> Result<Self, SkuError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(SkuError::Empty);
        }
        if s.chars().count() > MAX_SKU_LEN {
            return Err(SkuError::TooLong);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(SkuError::BadCharacter);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = SkuError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(value: Sku) -> Self {
        value.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_case() {
        assert_eq!(Sku::parse("  Fdr-001 ").unwrap().as_str(), "Fdr-001");
    }

    #[test]
    fn refuses_empty_long_and_inner_space() {
        assert_eq!(Sku::parse("   "), Err(SkuError::Empty));
        assert_eq!(Sku::parse(&"x".repeat(65)), Err(SkuError::TooLong));
        assert_eq!(Sku::parse("HAT 1"), Err(SkuError::BadCharacter));
        assert_eq!(Sku::parse("HAT\u{0}1"), Err(SkuError::BadCharacter));
    }
}
