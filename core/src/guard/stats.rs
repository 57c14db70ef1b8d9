// SPDX-License-Identifier: MPL-2.0
//! What jetsonguard counts and reports over a run: frames, time per state, rates between
//! reports, progress and the stats line.

use std::time::{Duration, Instant};

use super::{GuardState, Reading};

/// Frames seen by the element.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped: u64,
}

/// Frame rates over one report window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub input_fps: f64,
    pub output_fps: f64,
}

/// Counters and clocks of one run, from start to stop.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub counts: Counts,
    /// Sensor warnings reported.
    pub warnings: u64,
    /// Hottest reading of the run.
    pub max_temp: Option<f32>,
    started: Instant,
    entered_state: Instant,
    throttled: Duration,
    paused: Duration,
    /// Start of the current report window and the counts then.
    report_at: Instant,
    reported: Counts,
}

impl RunStats {
    pub fn new(now: Instant) -> Self {
        RunStats {
            counts: Counts::default(),
            warnings: 0,
            max_temp: None,
            started: now,
            entered_state: now,
            throttled: Duration::ZERO,
            paused: Duration::ZERO,
            report_at: now,
            reported: Counts::default(),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Counts a sample's new warnings and its temperature towards the maximum.
    pub fn observe(&mut self, r: &Reading, new_warnings: usize) {
        self.warnings += new_warnings as u64;
        if let Some(t) = r.temperature {
            self.max_temp = Some(self.max_temp.map_or(t, |m| m.max(t)));
        }
    }

    /// Adds the time since the last change to the totals of `was`, the state being left.
    pub fn leave_state(&mut self, was: GuardState, now: Instant) {
        let spent = now.saturating_duration_since(self.entered_state);
        match was {
            GuardState::Throttled => self.throttled += spent,
            GuardState::Paused => self.paused += spent,
            GuardState::Normal => {}
        }
        self.entered_state = now;
    }

    /// Time spent throttled, up to the last [`leave_state`](Self::leave_state).
    pub fn throttled(&self) -> Duration {
        self.throttled
    }

    /// Time spent paused, up to the last [`leave_state`](Self::leave_state).
    pub fn paused(&self) -> Duration {
        self.paused
    }

    /// Whether a report is due: every `interval_seconds` (0 or less: never) or when `force`d.
    /// If so, starts the next window and returns the rates over the one that ended.
    pub fn report(&mut self, interval_seconds: f64, force: bool, now: Instant) -> Option<Rates> {
        if interval_seconds <= 0.0 && !force {
            return None;
        }
        let elapsed = now.saturating_duration_since(self.report_at).as_secs_f64();
        if !force && elapsed < interval_seconds {
            return None;
        }
        let rate = |now: u64, then: u64| (now - then) as f64 / elapsed.max(1e-9);
        let rates = Rates {
            input_fps: rate(self.counts.frames_in, self.reported.frames_in),
            output_fps: rate(self.counts.frames_out, self.reported.frames_out),
        };
        self.report_at = now;
        self.reported = self.counts;
        Some(rates)
    }
}

/// Progress of a source with a known duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub frames_done: u64,
    pub frames_total: Option<u64>,
    pub percent: f64,
    pub eta_seconds: Option<f64>,
}

impl Progress {
    /// From the stream time reached, the media's duration, the frame duration if known and the
    /// wall-clock seconds spent so far; `None` for a zero duration.
    pub fn estimate(
        frames_done: u64,
        position_ns: u64,
        duration_ns: u64,
        frame_ns: Option<u64>,
        wall_seconds: f64,
    ) -> Option<Progress> {
        if duration_ns == 0 {
            return None;
        }
        let percent = (100.0 * position_ns as f64 / duration_ns as f64).min(100.0);
        let frames_total = frame_ns.map(|f| duration_ns.div_ceil(f.max(1)));
        // Remaining media time at the media-time rate seen so far.
        let media_rate = position_ns as f64 / 1e9 / wall_seconds.max(1e-9);
        let eta = (media_rate > 0.0)
            .then(|| duration_ns.saturating_sub(position_ns) as f64 / 1e9 / media_rate);
        Some(Progress {
            frames_done,
            frames_total,
            percent,
            eta_seconds: eta,
        })
    }
}

const GB_PER_KB: f64 = 1.0 / (1024.0 * 1024.0);

/// The human-readable stats line, in the original system's style.
pub fn format_stats_line(
    progress: Option<&Progress>,
    frames: u64,
    fps: f64,
    r: &Reading,
    state: GuardState,
) -> String {
    let mut s = match progress {
        Some(p) => {
            let total = p.frames_total.map_or(String::new(), |t| format!("/{t}"));
            let eta = p
                .eta_seconds
                .map_or("?".to_string(), |e| format!("{e:.1}s"));
            format!(
                "Progress: {}{total} ({:.1}%) - FPS: {fps:.1} - ETA: {eta}",
                p.frames_done, p.percent
            )
        }
        None => format!("Frames: {frames} - FPS: {fps:.1}"),
    };
    let pct = |v: Option<f32>| v.map_or("?".to_string(), |v| format!("{v:.0}%"));
    s.push_str(&format!(" | CPU {}", pct(r.cpu_percent)));
    match r.memory {
        Some(m) => s.push_str(&format!(
            " RAM {:.1}% ({:.1}/{:.1} GB)",
            r.memory_percent().unwrap_or_default(),
            (m.total_kb.saturating_sub(m.available_kb)) as f64 * GB_PER_KB,
            m.total_kb as f64 * GB_PER_KB
        )),
        None => s.push_str(" RAM ?"),
    }
    s.push_str(&format!(
        " SWAP {}",
        pct(r.memory.and_then(|m| m.swap_used_percent()))
    ));
    if let Some(g) = r.gpu_percent {
        s.push_str(&format!(" GPU {g:.0}%"));
    }
    match r.temperature {
        Some(t) => s.push_str(&format!(" TEMP {t:.1}°C")),
        None => s.push_str(" TEMP ?"),
    }
    if state != GuardState::Normal {
        s.push_str(&format!(" [{}]", state.name().to_uppercase()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Memory;

    #[test]
    fn reports_are_due_every_interval_with_the_rates_since_the_last() {
        let t0 = Instant::now();
        let s = |secs: f64| t0 + Duration::from_secs_f64(secs);
        let mut r = RunStats::new(t0);
        r.counts.frames_in = 30;
        r.counts.frames_out = 15;
        assert_eq!(r.report(2.0, false, s(1.0)), None);
        let rates = r.report(2.0, false, s(2.0)).unwrap();
        assert_eq!((rates.input_fps, rates.output_fps), (15.0, 7.5));
        r.counts.frames_in = 40;
        assert_eq!(r.report(2.0, false, s(3.0)), None);
        // Forced (EOS) even before the interval, and even with reports off.
        let rates = r.report(0.0, true, s(3.0)).unwrap();
        assert_eq!((rates.input_fps, rates.output_fps), (10.0, 0.0));
        assert_eq!(r.report(0.0, false, s(100.0)), None);
    }

    #[test]
    fn time_per_state_and_hottest_reading() {
        let t0 = Instant::now();
        let mut r = RunStats::new(t0);
        r.leave_state(GuardState::Normal, t0 + Duration::from_secs(1));
        r.leave_state(GuardState::Throttled, t0 + Duration::from_secs(3));
        r.leave_state(GuardState::Paused, t0 + Duration::from_secs(7));
        assert_eq!(r.throttled(), Duration::from_secs(2));
        assert_eq!(r.paused(), Duration::from_secs(4));
        let hot = |t| Reading {
            temperature: Some(t),
            ..Default::default()
        };
        r.observe(&hot(50.0), 2);
        r.observe(&hot(48.0), 0);
        r.observe(&Reading::default(), 1);
        assert_eq!((r.max_temp, r.warnings), (Some(50.0), 3));
    }

    #[test]
    fn progress_from_position_duration_and_wall_time() {
        // 10 s of 25 fps media, 4 s done in 2 s of wall time: 3 s to go.
        let p =
            Progress::estimate(100, 4_000_000_000, 10_000_000_000, Some(40_000_000), 2.0).unwrap();
        assert_eq!(p.frames_total, Some(250));
        assert!((p.percent - 40.0).abs() < 1e-9);
        assert!((p.eta_seconds.unwrap() - 3.0).abs() < 1e-9);
        // Nothing played yet: no estimate; past the end: 100 %.
        let p = Progress::estimate(0, 0, 10, None, 1.0).unwrap();
        assert_eq!((p.frames_total, p.eta_seconds), (None, None));
        assert_eq!(
            Progress::estimate(1, 20, 10, None, 1.0).unwrap().percent,
            100.0
        );
        assert_eq!(Progress::estimate(1, 0, 0, None, 1.0), None);
    }

    #[test]
    fn stats_line_matches_the_original_format() {
        let r = Reading {
            temperature: Some(52.3),
            cpu_percent: Some(67.0),
            memory: Some(Memory {
                total_kb: 4 * 1024 * 1024,
                available_kb: (4.0 * 1024.0 * 1024.0 * 0.215) as u64,
                swap_total_kb: 1000,
                swap_free_kb: 850,
            }),
            ..Default::default()
        };
        let p = Progress {
            frames_done: 1250,
            frames_total: Some(3000),
            percent: 41.666,
            eta_seconds: Some(203.44),
        };
        assert_eq!(
            format_stats_line(Some(&p), 1250, 8.6, &r, GuardState::Normal),
            "Progress: 1250/3000 (41.7%) - FPS: 8.6 - ETA: 203.4s | CPU 67% RAM 78.5% (3.1/4.0 GB) SWAP 15% TEMP 52.3°C"
        );
        let line = format_stats_line(None, 5, 2.0, &Reading::default(), GuardState::Paused);
        assert_eq!(
            line,
            "Frames: 5 - FPS: 2.0 | CPU ? RAM ? SWAP ? TEMP ? [PAUSED]"
        );
    }
}
