// SPDX-License-Identifier: MPL-2.0
//! Sensors read at most once per poll interval and judged against the limits.

use std::time::{Duration, Instant};

use super::{GuardState, Limits, Mode, Policy, Reading, Sampler, SensorWarning, Transition};

/// What one reading brought that the element has to tell.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// New sensor problems (each file once per run).
    pub warnings: Vec<SensorWarning>,
    pub change: Option<Transition>,
    /// Memory went over its limit at this reading (it was not at the one before).
    pub memory_newly_over: bool,
}

/// The sampler, the policy and the latest reading.
#[derive(Debug)]
pub struct Monitor {
    sampler: Sampler,
    policy: Policy,
    reading: Reading,
    poll: Duration,
    last_sample: Option<Instant>,
    memory_over: bool,
}

impl Monitor {
    pub fn new(sampler: Sampler, limits: Limits, mode: Mode, poll: Duration) -> Self {
        Monitor {
            sampler,
            policy: Policy::new(limits, mode),
            reading: Reading::default(),
            poll,
            last_sample: None,
            memory_over: false,
        }
    }

    pub fn state(&self) -> GuardState {
        self.policy.state()
    }

    pub fn limits(&self) -> Limits {
        self.policy.limits
    }

    /// The latest reading (all unknown before the first).
    pub fn reading(&self) -> &Reading {
        &self.reading
    }

    pub fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// New limits and interval apply from the next reading on.
    pub fn configure(&mut self, limits: Limits, poll: Duration) {
        self.policy.limits = limits;
        self.poll = poll;
    }

    /// Reads the sensors when `force`d or once the poll interval has passed since the last
    /// reading; `None` when it was too early.
    pub fn sample(&mut self, now: Instant, force: bool) -> Option<Sample> {
        if !force
            && self
                .last_sample
                .is_some_and(|t| now.saturating_duration_since(t) < self.poll)
        {
            return None;
        }
        self.last_sample = Some(now);
        let (reading, warnings) = self.sampler.sample();
        self.reading = reading;
        let change = self.policy.update(&self.reading);
        let over_memory = self.policy.over().memory;
        let memory_newly_over = over_memory && !self.memory_over;
        self.memory_over = over_memory;
        Some(Sample {
            warnings,
            change,
            memory_newly_over,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysfs with one thermal zone and a procfs with meminfo, in a temporary folder.
    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new() -> Self {
            let t = Tree(tempfile::tempdir().unwrap());
            std::fs::create_dir_all(t.0.path().join("sys/class/thermal/thermal_zone0")).unwrap();
            std::fs::create_dir_all(t.0.path().join("proc")).unwrap();
            t.set_temp(40_000);
            t.set_memory_available(900);
            t
        }

        fn set_temp(&self, milli: i64) {
            let p = self.0.path().join("sys/class/thermal/thermal_zone0/temp");
            std::fs::write(p, format!("{milli}\n")).unwrap();
        }

        fn set_memory_available(&self, kb: u64) {
            let text = format!("MemTotal: 1000 kB\nMemAvailable: {kb} kB\n");
            std::fs::write(self.0.path().join("proc/meminfo"), text).unwrap();
        }

        fn monitor(&self, mode: Mode, poll: Duration) -> Monitor {
            let (sys, proc) = (self.0.path().join("sys"), self.0.path().join("proc"));
            Monitor::new(Sampler::new(sys, proc, ""), Limits::default(), mode, poll)
        }
    }

    #[test]
    fn samples_once_per_interval_unless_forced() {
        let tree = Tree::new();
        let mut m = tree.monitor(Mode::Drop, Duration::from_secs(1));
        let t0 = Instant::now();
        let first = m.sample(t0, false).unwrap();
        // No /proc/stat: one warning, once.
        assert_eq!(first.warnings.len(), 1, "{:?}", first.warnings);
        assert_eq!(m.reading().temperature, Some(40.0));
        tree.set_temp(80_000);
        assert!(m.sample(t0 + Duration::from_millis(999), false).is_none());
        assert_eq!(m.state(), GuardState::Normal);
        let s = m.sample(t0 + Duration::from_millis(999), true).unwrap();
        assert!(s.warnings.is_empty());
        let change = s.change.unwrap();
        assert_eq!(
            (change.from, change.to),
            (GuardState::Normal, GuardState::Throttled)
        );
        assert!(m.sample(t0 + Duration::from_millis(1998), false).is_none());
        assert!(m.sample(t0 + Duration::from_millis(1999), false).is_some());
    }

    #[test]
    fn memory_pressure_is_reported_when_it_starts() {
        let tree = Tree::new();
        let mut m = tree.monitor(Mode::Pause, Duration::ZERO);
        let now = Instant::now();
        assert!(!m.sample(now, false).unwrap().memory_newly_over);
        tree.set_memory_available(100); // 90 %
        let s = m.sample(now, false).unwrap();
        assert!(s.memory_newly_over);
        assert_eq!(s.change.unwrap().to, GuardState::Paused);
        assert!(!m.sample(now, false).unwrap().memory_newly_over);
        // Limits changed while running apply at the next reading.
        let limits = Limits {
            memory_limit: 95.0,
            ..m.limits()
        };
        m.configure(limits, Duration::ZERO);
        tree.set_memory_available(200);
        assert_eq!(
            m.sample(now, false).unwrap().change.unwrap().to,
            GuardState::Normal
        );
        tree.set_memory_available(40);
        assert!(m.sample(now, false).unwrap().memory_newly_over);
    }
}
