// SPDX-License-Identifier: MPL-2.0
//! Reconnection delays: doubling from a first delay up to a ceiling, back to the first after
//! a connection that worked.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// `max` below `first` is raised to `first`.
    pub fn new(first: Duration, max: Duration) -> Self {
        let max = max.max(first);
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The delay before the next attempt; each call doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_ceiling_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(500));
        let got: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_eq!(got, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        b.reset();
        assert_eq!(b.next_delay(), ms(100));
        let mut b = Backoff::new(ms(300), ms(10));
        assert_eq!((b.next_delay(), b.next_delay()), (ms(300), ms(300)));
    }
}
