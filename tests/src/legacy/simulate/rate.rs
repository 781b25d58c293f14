//! Command-line forms of the simulator's pace: a rate such as `5/s` or `300/m`, and a duration such
//! as `60s`, `2m` or `500ms`.

use std::{fmt, str::FromStr, time::Duration};

/// Transactions per second, always positive and finite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate(f64);

impl Rate {
    pub fn per_second(per_second: f64) -> Result<Self, RateError> {
        if per_second.is_finite() && per_second > 0.0 {
            Ok(Self(per_second))
        } else {
            Err(RateError(per_second.to_string()))
        }
    }

    pub fn as_per_second(self) -> f64 {
        self.0
    }

    /// The time between two transactions.
    pub fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.0)
    }
}

/// A rate that is not `N/s`, `N/m` or `N/h` with N > 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateError(String);

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a rate like 5/s, 300/m or 2/h", self.0)
    }
}

impl std::error::Error for RateError {}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || RateError(text.to_owned());
        let (count, unit) = text.trim().split_once('/').unwrap_or((text.trim(), "s"));
        let count: f64 = count.trim().parse().map_err(|_| bad())?;
        let seconds = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return Err(bad()),
        };
        Self::per_second(count / seconds).map_err(|_| bad())
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

/// Parses `60s`, `2m`, `1h`, `500ms` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 60s, 2m or 500ms"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("`{text}` is not a duration like 60s, 2m or 500ms")),
    };
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("`{text}` is not a duration like 60s, 2m or 500ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!("5/s".parse::<Rate>().unwrap().as_per_second(), 5.0);
        assert_eq!("300/m".parse::<Rate>().unwrap().as_per_second(), 5.0);
        assert_eq!("7".parse::<Rate>().unwrap().as_per_second(), 7.0);
        assert_eq!(
            "5/s".parse::<Rate>().unwrap().interval(),
            Duration::from_millis(200)
        );
        for bad in ["0/s", "-1/s", "x/s", "5/d", "", "inf/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
