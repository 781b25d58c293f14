//! How stock is shown to customers, honestly: the lag guard decides how much a stale replica may
//! still say, and [`StockWording`] is the one place that turns units into words.

use std::time::Duration;

/// How current the replica is, against the lag guard's limits (`stock.soft_limit_secs`,
/// `stock.hard_limit_secs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lag {
    /// Within the soft limit: exact counts may be shown.
    Fresh,
    /// Past the soft limit: no exact low counts ("Low stock").
    Soft,
    /// Past the hard limit, or unknown (no checkpoint, snapshot running): stock is being
    /// refreshed; nothing may be added to a basket (basket work).
    Hard,
}

/// The lag guard's limits.
#[derive(Clone, Copy, Debug)]
pub struct LagLimits {
    pub soft: Duration,
    pub hard: Duration,
}

impl LagLimits {
    /// `staleness` is `stock.freshness.staleness`; `None` counts as past the hard limit.
    pub fn classify(&self, staleness: Option<Duration>) -> Lag {
        match staleness {
            None => Lag::Hard,
            Some(s) if s > self.hard => Lag::Hard,
            Some(s) if s > self.soft => Lag::Soft,
            Some(_) => Lag::Fresh,
        }
    }
}

/// What a customer is told about one hat's stock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StockWording {
    InStock,
    /// At or below the low-stock threshold, replica fresh: the exact count.
    OnlyLeft(i32),
    /// Low, but the replica is too stale for an exact count.
    LowStock,
    OutOfStock,
}

impl StockWording {
    /// `available` units (never negative in the view), the threshold and the replica's lag.
    pub fn new(available: i32, low_threshold: i32, lag: Lag) -> Self {
        if available <= 0 {
            Self::OutOfStock
        } else if available > low_threshold {
            Self::InStock
        } else if lag == Lag::Fresh {
            Self::OnlyLeft(available)
        } else {
            Self::LowStock
        }
    }

    pub fn text(&self) -> String {
        match self {
            Self::InStock => "In stock".to_owned(),
            Self::OnlyLeft(n) => format!("Only {n} left"),
            Self::LowStock => "Low stock".to_owned(),
            Self::OutOfStock => "Out of stock".to_owned(),
        }
    }

    /// A stable name for styling and scripts: `in`, `low`, `out`.
    pub const fn level(&self) -> &'static str {
        match self {
            Self::InStock => "in",
            Self::OnlyLeft(_) | Self::LowStock => "low",
            Self::OutOfStock => "out",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: LagLimits = LagLimits {
        soft: Duration::from_secs(30),
        hard: Duration::from_secs(120),
    };

    #[test]
    fn unknown_freshness_is_past_the_hard_limit() {
        assert_eq!(LIMITS.classify(None), Lag::Hard);
        assert_eq!(LIMITS.classify(Some(Duration::from_secs(1))), Lag::Fresh);
        assert_eq!(LIMITS.classify(Some(Duration::from_secs(31))), Lag::Soft);
        assert_eq!(LIMITS.classify(Some(Duration::from_secs(121))), Lag::Hard);
    }

    #[test]
    fn wording_follows_the_threshold_and_the_lag() {
        assert_eq!(StockWording::new(0, 5, Lag::Fresh).text(), "Out of stock");
        assert_eq!(StockWording::new(3, 5, Lag::Fresh).text(), "Only 3 left");
        assert_eq!(StockWording::new(5, 5, Lag::Fresh).text(), "Only 5 left");
        assert_eq!(StockWording::new(6, 5, Lag::Fresh).text(), "In stock");
        assert_eq!(StockWording::new(3, 5, Lag::Soft).text(), "Low stock");
        assert_eq!(StockWording::new(3, 5, Lag::Hard).text(), "Low stock");
        assert_eq!(StockWording::new(0, 5, Lag::Hard).text(), "Out of stock");
    }

    proptest! {
        /// A stale replica never shows an exact count; a count is never shown above the threshold.
        #[test]
        fn exact_counts_only_when_fresh_and_low(available in -5i32..100, threshold in 0i32..20,
                                                 staleness in proptest::option::of(0u64..300)) {
            let lag = LIMITS.classify(staleness.map(Duration::from_secs));
            let wording = StockWording::new(available, threshold, lag);
            if let StockWording::OnlyLeft(n) = wording {
                prop_assert_eq!(lag, Lag::Fresh);
                prop_assert!(n > 0 && n <= threshold);
            }
            prop_assert_eq!(wording == StockWording::OutOfStock, available <= 0);
        }
    }
}
