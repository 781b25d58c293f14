//! A customer's search text made safe for SQL `ILIKE`: trimmed, truncated, split into at most a few
//! words, and each word's `\`, `%` and `_` escaped so they match themselves. The patterns are bound
//! as parameters, never formatted into SQL.

/// Characters of search text considered; the rest is dropped (a search box is not an essay).
pub const MAX_QUERY_CHARS: usize = 100;
/// Words matched; more are ignored.
pub const MAX_WORDS: usize = 6;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    /// The normalised text (what the search box shows again, and the cache key).
    text: String,
}

impl SearchQuery {
    /// `None` when nothing searchable is left.
    pub fn parse(raw: &str) -> Option<Self> {
        // Control characters (NUL above all, which PostgreSQL text cannot hold) are spaces.
        let truncated: String = raw
            .chars()
            .take(MAX_QUERY_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let words: Vec<&str> = truncated.split_whitespace().take(MAX_WORDS).collect();
        if words.is_empty() {
            return None;
        }
        Some(Self {
            text: words.join(" "),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// One `ILIKE` pattern per word (`%word%`, escaped with `\`); a row must match them all.
    pub fn patterns(&self) -> Vec<String> {
        self.text
            .split(' ')
            .map(|word| {
                let mut p = String::with_capacity(word.len() + 2);
                p.push('%');
                for c in word.chars() {
                    if matches!(c, '\\' | '%' | '_') {
                        p.push('\\');
                    }
                    p.push(c);
                }
                p.push('%');
                p
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_themselves() {
        let q = SearchQuery::parse("  100%  top_hat \\ ").unwrap();
        assert_eq!(q.text(), "100% top_hat \\");
        assert_eq!(q.patterns(), ["%100\\%%", "%top\\_hat%", "%\\\\%"]);
    }

    #[test]
    fn long_and_empty_input() {
        assert_eq!(SearchQuery::parse("   "), None);
        let long = "bowler ".repeat(1000);
        let q = SearchQuery::parse(&long).unwrap();
        assert_eq!(q.patterns().len(), MAX_WORDS);
        let one_word = "x".repeat(10_000);
        assert_eq!(
            SearchQuery::parse(&one_word)
                .unwrap()
                .text()
                .chars()
                .count(),
            MAX_QUERY_CHARS
        );
        assert_eq!(SearchQuery::parse("top\0hat").unwrap().text(), "top hat");
        // Multi-byte characters are cut on a character boundary.
        let hats = "🎩".repeat(500);
        assert_eq!(
            SearchQuery::parse(&hats).unwrap().text().chars().count(),
            100
        );
    }
}
