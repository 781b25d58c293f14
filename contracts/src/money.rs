//! Money as integer minor units (pence, cents) with its currency, and the one conversion from the
//! legacy database's decimal text (`DECIMAL(12,4)` arrives as `"12.3450"`) into minor units, with the
//! rounding rule a mapping chooses for sub-penny digits. Never a float.

use std::fmt;

/// An ISO 4217 currency this shop can price in, with its number of minor-unit digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Gbp,
    Eur,
    Usd,
}

impl Currency {
    /// Digits after the decimal point in the currency's minor unit.
    pub const fn exponent(self) -> u32 {
        match self {
            Self::Gbp | Self::Eur | Self::Usd => 2,
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            Self::Gbp => "GBP",
            Self::Eur => "EUR",
            Self::Usd => "USD",
        }
    }

    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        match code.trim().to_ascii_uppercase().as_str() {
            "GBP" => Ok(Self::Gbp),
            "EUR" => Ok(Self::Eur),
            "USD" => Ok(Self::Usd),
            _ => Err(MoneyError::UnknownCurrency(code.to_owned())),
        }
    }

    const fn symbol(self) -> &'static str {
        match self {
            Self::Gbp => "£",
            Self::Eur => "€",
            Self::Usd => "$",
        }
    }
}

/// What to do with digits finer than the currency's minor unit (`12.3450` GBP is fine, `12.3456` is not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// The value is refused: the item is not sellable and the error is recorded.
    Reject,
    /// Banker's rounding: half to even, so sums of rounded prices carry no bias.
    HalfEven,
}

/// An amount in minor units of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("not a decimal number: {0:?}")]
    NotDecimal(String),
    #[error("{value} has digits below the currency's minor unit and the rounding rule is reject")]
    SubMinorDigits { value: String },
    #[error("{0} is too large")]
    Overflow(String),
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Converts decimal text such as `"12.3450"` or `"-0.5"` into minor units.
    pub fn from_decimal_str(
        text: &str,
        currency: Currency,
        rounding: Rounding,
    ) -> Result<Self, MoneyError> {
        let bad = || MoneyError::NotDecimal(text.to_owned());
        let t = text.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty() && frac_part.is_empty()
            || !all_digits(int_part)
            || !all_digits(frac_part)
        {
            return Err(bad());
        }
        let exp = currency.exponent() as usize;
        let (kept, dropped) = if frac_part.len() > exp {
            frac_part.split_at(exp)
        } else {
            (frac_part, "")
        };
        let overflow = || MoneyError::Overflow(text.to_owned());
        let mut minor: i64 = 0;
        for b in int_part
            .bytes()
            .chain(kept.bytes())
            .chain(std::iter::repeat_n(b'0', exp - kept.len()))
        {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        let dropped = dropped.trim_end_matches('0');
        if !dropped.is_empty() {
            match rounding {
                Rounding::Reject => {
                    return Err(MoneyError::SubMinorDigits {
                        value: text.to_owned(),
                    });
                }
                Rounding::HalfEven => {
                    let first = dropped.as_bytes()[0];
                    let round_up = match first.cmp(&b'5') {
                        std::cmp::Ordering::Greater => true,
                        std::cmp::Ordering::Less => false,
                        // Exactly half (nothing after the 5): go to the even neighbour.
                        std::cmp::Ordering::Equal => dropped.len() > 1 || minor % 2 == 1,
                    };
                    if round_up {
                        minor = minor.checked_add(1).ok_or_else(overflow)?;
                    }
                }
            }
        }
        Ok(Self::new(if negative { -minor } else { minor }, currency))
    }
}

impl fmt::Display for Money {
    /// `£12.35`, `-£0.50`: for people, not for parsing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = 10_i64.pow(self.currency.exponent());
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let (major, minor) = (abs / scale as u64, abs % scale as u64);
        let width = self.currency.exponent() as usize;
        write!(f, "{sign}{}{major}.{minor:0width$}", self.currency.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gbp(text: &str, rounding: Rounding) -> Result<i64, MoneyError> {
        Money::from_decimal_str(text, Currency::Gbp, rounding).map(|m| m.minor)
    }

    #[test]
    fn converts_legacy_decimal_text() {
        assert_eq!(gbp("12.3400", Rounding::Reject), Ok(1234));
        assert_eq!(gbp("12", Rounding::Reject), Ok(1200));
        assert_eq!(gbp("-0.5", Rounding::Reject), Ok(-50));
        assert_eq!(gbp(".99", Rounding::Reject), Ok(99));
    }

    #[test]
    fn sub_penny_digits_follow_the_rule() {
        assert!(matches!(
            gbp("19.9950", Rounding::Reject),
            Err(MoneyError::SubMinorDigits { .. })
        ));
        assert_eq!(gbp("19.9950", Rounding::HalfEven), Ok(2000));
        assert_eq!(gbp("19.9850", Rounding::HalfEven), Ok(1998));
        assert_eq!(gbp("19.9851", Rounding::HalfEven), Ok(1999));
        assert_eq!(gbp("19.9849", Rounding::HalfEven), Ok(1998));
        assert_eq!(gbp("-0.0050", Rounding::HalfEven), Ok(0));
    }

    #[test]
    fn refuses_garbage_and_overflow() {
        for bad in ["", ".", "1.2.3", "abc", "1e5", "--1", " - 1"] {
            assert!(
                matches!(gbp(bad, Rounding::HalfEven), Err(MoneyError::NotDecimal(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            gbp("99999999999999999999", Rounding::Reject),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[test]
    fn displays_for_people() {
        assert_eq!(Money::new(1234, Currency::Gbp).to_string(), "£12.34");
        assert_eq!(Money::new(-5, Currency::Eur).to_string(), "-€0.05");
    }

    proptest! {
        #[test]
        fn round_trips_whole_minor_units(minor in -1_000_000_000_000i64..1_000_000_000_000) {
            let text = format!("{}{}.{:02}", if minor < 0 { "-" } else { "" }, minor.unsigned_abs() / 100, minor.unsigned_abs() % 100);
            prop_assert_eq!(gbp(&text, Rounding::Reject), Ok(minor));
        }

        #[test]
        fn half_even_is_within_half_a_unit(minor in 0i64..1_000_000_000, sub in 0u32..100) {
            let text = format!("{}.{:02}{:02}", minor / 100, minor % 100, sub);
            let got = gbp(&text, Rounding::HalfEven).unwrap();
            // |got - exact| <= 0.5 minor units, with exact = minor + sub/100.
            let diff = (got - minor) * 100 - i64::from(sub);
            prop_assert!(diff.abs() <= 50, "{} -> {}", text, got);
        }
    }
}
