//! Deadlines from the timeouts users give. A timeout may be as long as
//! `Duration` allows (a binding's `Infinity`, Ruby's `1e19` seconds,
//! `Duration::MAX`): added to the clock as it is, it overflows and panics.

use std::time::{Duration, Instant};

/// How long connecting may take unless a builder says otherwise: kernel's
/// `net_setuptime` default.
pub(crate) const DEFAULT_SETUP: Duration = Duration::from_secs(7);

/// Farther than any wait lasts, near enough to add to the clock.
const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `timeout` from now; a longer timeout than a century is a century.
pub(crate) fn after(timeout: Duration) -> Instant {
    Instant::now() + timeout.min(CENTURY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_timeout_is_a_deadline() {
        assert!(after(Duration::MAX) > after(Duration::from_secs(3600)));
        assert!(after(Duration::ZERO) <= Instant::now());
    }
}
