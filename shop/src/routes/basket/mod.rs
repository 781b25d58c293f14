//! The basket: `GET /basket` and the POST forms that change it (`add`, `update`, `remove`). Every
//! form carries the session's CSRF token (see `session::check_csrf`); every change checks the
//! replica's availability and the caps, and refuses rather than silently adjusting. After a POST the
//! customer is sent (303) to the basket page with a notice code, so a reload never repeats a change.

pub mod add;
pub mod remove;
pub mod show;
pub mod stock_events;
pub mod update;

use axum::response::{IntoResponse, Redirect, Response};

/// What the basket page says after an action. Codes in the URL, words here: nothing the visitor
/// typed is ever echoed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Added,
    Updated,
    Removed,
    /// Past the lag guard's hard limit: nothing may be added.
    Refreshing,
    NotEnough,
    LineCap,
    LinesCap,
    Unavailable,
}

impl Notice {
    pub const ALL: [Self; 8] = [
        Self::Added,
        Self::Updated,
        Self::Removed,
        Self::Refreshing,
        Self::NotEnough,
        Self::LineCap,
        Self::LinesCap,
        Self::Unavailable,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Updated => "updated",
            Self::Removed => "removed",
            Self::Refreshing => "refreshing",
            Self::NotEnough => "not-enough",
            Self::LineCap => "line-cap",
            Self::LinesCap => "lines-cap",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.code() == code)
    }

    /// Whether the action was refused (shown as a warning).
    pub const fn refused(self) -> bool {
        !matches!(self, Self::Added | Self::Updated | Self::Removed)
    }

    /// The words, given the basket's caps.
    pub fn text(self, max_line: i32, max_lines: i64) -> String {
        match self {
            Self::Added => "Added to your basket.".to_owned(),
            Self::Updated => "Your basket has been updated.".to_owned(),
            Self::Removed => "Removed from your basket.".to_owned(),
            Self::Refreshing => {
                "Sorry, we cannot add hats to baskets right now: our stock list is \
                being refreshed. Your basket is kept; please try again in a few minutes."
                    .to_owned()
            }
            Self::NotEnough => {
                "Sorry, we do not have that many in stock. Your basket has not been changed."
                    .to_owned()
            }
            Self::LineCap => format!(
                "Sorry, at most {max_line} of one hat per order. Your basket has not been changed."
            ),
            Self::LinesCap => format!(
                "Sorry, a basket holds at most {max_lines} different hats. Your basket has not been changed."
            ),
            Self::Unavailable => {
                "Sorry, that hat is not available. Your basket has not been changed.".to_owned()
            }
        }
    }
}

/// 303 to the basket page with `notice`.
pub fn to_basket(notice: Notice) -> Response {
    Redirect::to(&format!("/basket?notice={}", notice.code())).into_response()
}

/// A form's quantity: whole units, leniently read (spaces trimmed); anything else is `None`.
pub fn parse_quantity(text: &str) -> Option<i32> {
    text.trim().parse::<i32>().ok().filter(|q| *q >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_unknown_codes_are_ignored() {
        for n in Notice::ALL {
            assert_eq!(Notice::parse(n.code()), Some(n));
        }
        assert_eq!(Notice::parse("<script>"), None);
    }

    #[test]
    fn quantities_are_whole_non_negative_numbers() {
        assert_eq!(parse_quantity(" 3 "), Some(3));
        assert_eq!(parse_quantity("0"), Some(0));
        assert_eq!(parse_quantity("-1"), None);
        assert_eq!(parse_quantity("1.5"), None);
        assert_eq!(parse_quantity("99999999999"), None);
    }
}
