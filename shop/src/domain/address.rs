//! A delivery address as the profile form takes it: every field trimmed and in Unicode NFC, with
//! lengths and the countries we deliver to checked; the words for each broken rule. No I/O.

use unicode_normalization::UnicodeNormalization;

/// The countries Funny Deliveries serves (ISO 3166-1 alpha-2, name), in the form's order.
pub const COUNTRIES: &[(&str, &str)] = &[
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("NL", "Netherlands"),
    ("ES", "Spain"),
];

/// Most addresses one account keeps.
pub const MAX_ADDRESSES: i64 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub full_name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postcode: String,
    pub country: String,
}

fn clean(text: &str) -> String {
    text.trim().nfc().collect()
}

fn field(
    text: &str,
    max: usize,
    required: bool,
    errors: &mut Vec<&'static str>,
    what: &'static str,
) -> String {
    let value = clean(text);
    let len = value.chars().count();
    if (required && len == 0) || len > max || value.chars().any(char::is_control) {
        errors.push(what);
    }
    value
}

impl Address {
    /// Parses the form's fields (full name, line 1, line 2, city, postcode, country code).
    pub fn parse(fields: [&str; 6]) -> Result<Self, Vec<&'static str>> {
        let [full_name, line1, line2, city, postcode, country] = fields;
        let mut errors = Vec::new();
        let address = Self {
            full_name: field(
                full_name,
                100,
                true,
                &mut errors,
                "Please give the name of the person the parcel is for (at most 100 characters).",
            ),
            line1: field(
                line1,
                100,
                true,
                &mut errors,
                "Please give the first line of the address (at most 100 characters).",
            ),
            line2: field(
                line2,
                100,
                false,
                &mut errors,
                "The second line is at most 100 characters.",
            ),
            city: field(
                city,
                60,
                true,
                &mut errors,
                "Please give the town or city (at most 60 characters).",
            ),
            postcode: field(
                postcode,
                16,
                true,
                &mut errors,
                "Please give the postcode (at most 16 characters).",
            )
            .to_uppercase(),
            country: clean(country).to_uppercase(),
        };
        if !COUNTRIES.iter().any(|(code, _)| *code == address.country) {
            errors.push("Please choose a country we deliver to.");
        }
        if errors.is_empty() {
            Ok(address)
        } else {
            Err(errors)
        }
    }
}

/// The country's name for a code (the code itself if unknown).
pub fn country_name(code: &str) -> &str {
    COUNTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_trimmed_checked_and_postcodes_upper_cased() {
        let a = Address::parse([
            " Ann Example ",
            "1 Hat Street",
            "",
            "Leeds",
            "ls1 4ap",
            "gb",
        ])
        .unwrap();
        assert_eq!(a.full_name, "Ann Example");
        assert_eq!(a.postcode, "LS1 4AP");
        assert_eq!(a.country, "GB");
        let errors = Address::parse(["", "", &"x".repeat(101), "", "", "XX"]).unwrap_err();
        assert_eq!(errors.len(), 6);
        assert!(Address::parse(["A", "B\u{0007}", "", "C", "D", "GB"]).is_err());
    }
}
