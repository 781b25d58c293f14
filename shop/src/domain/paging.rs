//! List paging from an untrusted `?page=`: anything that is not a page number in range is clamped
//! to the nearest page that exists (`-1` → the first, `99999999999999999999` → the last, `abc` → the
//! first), never an error.

/// One page of a list of `total` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// 1-based.
    pub number: usize,
    /// At least 1, also for an empty list.
    pub last: usize,
    pub size: usize,
}

impl Page {
    pub fn clamp(requested: Option<&str>, total: usize, size: usize) -> Self {
        let size = size.max(1);
        let last = total.div_ceil(size).max(1);
        let number = match requested.map(str::trim) {
            None | Some("") => 1,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if n < 1 => 1,
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                // All digits but too large for i64: past the end.
                Err(_) if text.bytes().all(|b| b.is_ascii_digit()) => usize::MAX,
                Err(_) => 1,
            },
        };
        Self {
            number: number.min(last),
            last,
            size,
        }
    }

    /// The index range of this page's entries in a list of `total`.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.number - 1).saturating_mul(self.size).min(total);
        start..start.saturating_add(self.size).min(total)
    }

    pub const fn previous(&self) -> Option<usize> {
        if self.number > 1 {
            Some(self.number - 1)
        } else {
            None
        }
    }

    pub const fn next(&self) -> Option<usize> {
        if self.number < self.last {
            Some(self.number + 1)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bad_pages_are_clamped() {
        let p = |q: &str| Page::clamp(Some(q), 60, 24).number;
        assert_eq!(p("-1"), 1);
        assert_eq!(p("0"), 1);
        assert_eq!(p("2"), 2);
        assert_eq!(p("3"), 3);
        assert_eq!(p("4"), 3);
        assert_eq!(p("99999999999999999999999"), 3);
        assert_eq!(p("abc"), 1);
        assert_eq!(p("1e3"), 1);
        assert_eq!(
            Page::clamp(None, 0, 24),
            Page {
                number: 1,
                last: 1,
                size: 24
            }
        );
        assert_eq!(Page::clamp(Some("3"), 60, 24).range(60), 48..60);
    }

    proptest! {
        #[test]
        fn any_input_gives_a_page_that_exists(q in ".{0,30}", total in 0usize..10_000, size in 1usize..100) {
            let page = Page::clamp(Some(&q), total, size);
            prop_assert!(page.number >= 1 && page.number <= page.last);
            let range = page.range(total);
            prop_assert!(range.end <= total && range.len() <= size);
        }
    }
}
