// SPDX-License-Identifier: MPL-2.0
//! jetsonguard's GStreamer-free logic: sensors, limits with hysteresis, even frame dropping,
//! counters and the stats line. The element only turns these into messages and events.

pub mod monitor;
pub mod pacing;
pub mod sensors;
pub mod stats;
pub mod tegrastats;

pub use monitor::{Monitor, Sample};
pub use pacing::{FrameTiming, Throttle};
pub use sensors::{
    Memory, ReadError, Reading, Sampler, SensorError, SensorWarning, TemperatureError, ZoneReading,
};
pub use stats::{Counts, Progress, Rates, RunStats, format_stats_line};
pub use tegrastats::{TegraStats, TegrastatsError, TegrastatsSourceError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardState {
    Normal,
    Throttled,
    Paused,
}

impl GuardState {
    pub fn name(self) -> &'static str {
        match self {
            GuardState::Normal => "normal",
            GuardState::Throttled => "throttled",
            GuardState::Paused => "paused",
        }
    }
}

/// What to do while over a limit (jetsonguard's `mode` property, `GstJetsonGuardMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "glib", derive(glib::Enum))]
#[cfg_attr(feature = "glib", enum_type(name = "GstJetsonGuardMode"))]
#[repr(u32)]
pub enum Mode {
    /// Let frames through at a reduced rate (live sources).
    #[default]
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "Drop frames evenly down to throttle-fps while over a limit (live sources)",
            nick = "drop"
        )
    )]
    Drop = 0,
    /// Block until back under the resume levels, losing nothing (files).
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "Block the stream until back under the resume levels, losing nothing (files)",
            nick = "pause"
        )
    )]
    Pause = 1,
}

/// Limits; a limit of 0 or less is disabled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub temp_limit: f32,
    /// Absolute resume temperature (below `temp_limit`).
    pub temp_resume: f32,
    pub memory_limit: f32,
    pub cpu_limit: f32,
    /// Second temperature tier: at or above it the stream pauses even in drop mode, because
    /// dropping frames no longer cools the board fast enough. Resumes [`TEMP_HYSTERESIS`]
    /// below it; 0 or less disables it.
    pub temp_pause_limit: f32,
}

/// Memory and CPU recover this many percentage points below their limits.
pub const MEMORY_HYSTERESIS: f32 = 5.0;
pub const CPU_HYSTERESIS: f32 = 10.0;
/// Temperature recovers this many degrees below its limit unless told otherwise.
pub const TEMP_HYSTERESIS: f32 = 5.0;

impl Limits {
    /// Limits as jetsonguard's properties give them: a negative `temp_resume` means
    /// [`TEMP_HYSTERESIS`] below `temp_limit`, and resuming never waits for less than the limit.
    pub fn with_resume(
        temp_limit: f32,
        temp_resume: f32,
        memory_limit: f32,
        cpu_limit: f32,
    ) -> Self {
        let temp_resume = if temp_resume < 0.0 {
            temp_limit - TEMP_HYSTERESIS
        } else {
            temp_resume.min(temp_limit)
        };
        Limits {
            temp_limit,
            temp_resume,
            memory_limit,
            cpu_limit,
            temp_pause_limit: 0.0,
        }
    }

    /// The same limits with the pause tier at `celsius` (0 or less: off).
    pub fn with_pause_tier(self, celsius: f32) -> Self {
        Limits {
            temp_pause_limit: celsius,
            ..self
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            temp_limit: 75.0,
            temp_resume: 70.0,
            memory_limit: 85.0,
            cpu_limit: 90.0,
            temp_pause_limit: 0.0,
        }
    }
}

/// Which limits are exceeded (hysteresis applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Over {
    pub temperature: bool,
    pub memory: bool,
    pub cpu: bool,
    /// Over the temperature's pause tier.
    pub temperature_pause: bool,
}

impl Over {
    pub fn any(&self) -> bool {
        self.temperature || self.memory || self.cpu || self.temperature_pause
    }

    /// The state these limits call for in `mode`: the pause tier pauses whatever the mode.
    pub fn state(&self, mode: Mode) -> GuardState {
        match (self.any(), self.temperature_pause, mode) {
            (false, _, _) => GuardState::Normal,
            (true, true, _) | (true, false, Mode::Pause) => GuardState::Paused,
            (true, false, Mode::Drop) => GuardState::Throttled,
        }
    }
}

/// A state change and why it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: GuardState,
    pub to: GuardState,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub limits: Limits,
    pub mode: Mode,
    over: Over,
    state: GuardState,
}

/// Enters at or above `limit`, leaves below `resume`; unknown readings are never "over".
fn hysteresis(was_over: bool, value: Option<f32>, limit: f32, resume: f32) -> bool {
    match value {
        Some(v) if limit > 0.0 => {
            if was_over {
                v >= resume
            } else {
                v >= limit
            }
        }
        _ => false,
    }
}

impl Policy {
    pub fn new(limits: Limits, mode: Mode) -> Self {
        Policy {
            limits,
            mode,
            over: Over::default(),
            state: GuardState::Normal,
        }
    }

    pub fn state(&self) -> GuardState {
        self.state
    }

    pub fn over(&self) -> Over {
        self.over
    }

    /// Applies a reading; returns the transition, if the state changed.
    pub fn update(&mut self, r: &Reading) -> Option<Transition> {
        let l = self.limits;
        let was = self.over;
        let mem = r.memory_percent();
        self.over = Over {
            temperature: hysteresis(was.temperature, r.temperature, l.temp_limit, l.temp_resume),
            memory: hysteresis(
                was.memory,
                mem,
                l.memory_limit,
                l.memory_limit - MEMORY_HYSTERESIS,
            ),
            cpu: hysteresis(
                was.cpu,
                r.cpu_percent,
                l.cpu_limit,
                l.cpu_limit - CPU_HYSTERESIS,
            ),
            temperature_pause: hysteresis(
                was.temperature_pause,
                r.temperature,
                l.temp_pause_limit,
                l.temp_pause_limit - TEMP_HYSTERESIS,
            ),
        };
        let to = self.over.state(self.mode);
        if to == self.state {
            return None;
        }
        let mut reasons = Vec::new();
        if self.over.temperature_pause {
            reasons.push(format!(
                "temperature {:.1} °C ≥ {:.1} °C (pause tier)",
                r.temperature.unwrap_or_default(),
                l.temp_pause_limit
            ));
        } else if self.over.temperature {
            reasons.push(format!(
                "temperature {:.1} °C ≥ {:.1} °C",
                r.temperature.unwrap_or_default(),
                l.temp_limit
            ));
        }
        if self.over.memory {
            reasons.push(format!(
                "memory {:.1} % ≥ {:.1} %",
                mem.unwrap_or_default(),
                l.memory_limit
            ));
        }
        if self.over.cpu {
            reasons.push(format!(
                "CPU {:.1} % ≥ {:.1} %",
                r.cpu_percent.unwrap_or_default(),
                l.cpu_limit
            ));
        }
        if reasons.is_empty() {
            reasons.push("all readings back under their resume levels".into());
        }
        let t = Transition {
            from: self.state,
            to,
            reason: reasons.join(", "),
        };
        self.state = to;
        Some(t)
    }
}

/// Returns freed heap to the system where the C library can (glibc's `malloc_trim`).
pub fn trim_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only releases free memory held by the allocator.
        unsafe { malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(temp: Option<f32>) -> Reading {
        Reading {
            temperature: temp,
            ..Default::default()
        }
    }

    #[test]
    fn resume_temperature_from_properties() {
        assert_eq!(
            Limits::with_resume(75.0, -1.0, 85.0, 90.0),
            Limits::default()
        );
        assert_eq!(Limits::with_resume(75.0, 60.0, 0.0, 0.0).temp_resume, 60.0);
        // A resume level above the limit would never leave the state: capped at the limit.
        assert_eq!(Limits::with_resume(75.0, 80.0, 0.0, 0.0).temp_resume, 75.0);
    }

    #[test]
    fn temperature_hysteresis() {
        let mut p = Policy::new(Limits::default(), Mode::Drop);
        assert!(p.update(&reading(Some(74.9))).is_none());
        let t = p.update(&reading(Some(75.0))).unwrap();
        assert_eq!((t.from, t.to), (GuardState::Normal, GuardState::Throttled));
        assert!(t.reason.contains("75.0 °C"), "{}", t.reason);
        // Between resume and limit: still throttled.
        assert!(p.update(&reading(Some(72.0))).is_none());
        assert!(p.update(&reading(Some(70.0))).is_none());
        let t = p.update(&reading(Some(69.9))).unwrap();
        assert_eq!(t.to, GuardState::Normal);
        // Unknown is never over the limit.
        let mut p = Policy::new(Limits::default(), Mode::Pause);
        assert!(p.update(&reading(None)).is_none());
        assert_eq!(
            p.update(&reading(Some(90.0))).unwrap().to,
            GuardState::Paused
        );
    }

    #[test]
    fn memory_and_cpu_limits() {
        let mut p = Policy::new(Limits::default(), Mode::Drop);
        let mut r = Reading {
            memory: Some(Memory {
                total_kb: 1000,
                available_kb: 100,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(p.update(&r).unwrap().reason.contains("memory 90.0 %"));
        r.memory.as_mut().unwrap().available_kb = 180; // 82 %: above 85 - 5
        assert!(p.update(&r).is_none());
        r.memory.as_mut().unwrap().available_kb = 210; // 79 %
        assert_eq!(p.update(&r).unwrap().to, GuardState::Normal);
        r.cpu_percent = Some(95.0);
        assert!(p.update(&r).unwrap().reason.contains("CPU 95.0 %"));
        // A cgroup limit takes precedence over the machine's memory.
        r.cpu_percent = None;
        r.cgroup = Some((95, 100));
        assert_eq!(r.memory_percent(), Some(95.0));
    }

    fn two_tiers(mode: Mode) -> Policy {
        Policy::new(Limits::default().with_pause_tier(80.0), mode)
    }

    #[test]
    fn pause_tier_pauses_even_in_drop_mode() {
        let mut p = two_tiers(Mode::Drop);
        assert!(p.update(&reading(Some(74.0))).is_none());
        assert_eq!(
            p.update(&reading(Some(76.0))).unwrap().to,
            GuardState::Throttled
        );
        let t = p.update(&reading(Some(80.0))).unwrap();
        assert_eq!((t.from, t.to), (GuardState::Throttled, GuardState::Paused));
        assert!(t.reason.contains("pause tier"), "{}", t.reason);
        // Hysteresis: paused down to 75 °C (5 below the tier), then throttled again.
        assert!(p.update(&reading(Some(77.0))).is_none());
        assert!(p.update(&reading(Some(75.0))).is_none());
        let t = p.update(&reading(Some(74.9))).unwrap();
        assert_eq!((t.from, t.to), (GuardState::Paused, GuardState::Throttled));
        // And normal below the first tier's resume level.
        assert_eq!(
            p.update(&reading(Some(69.0))).unwrap().to,
            GuardState::Normal
        );
        // Straight from normal to paused when it jumps.
        assert_eq!(
            p.update(&reading(Some(90.0))).unwrap().to,
            GuardState::Paused
        );
        assert_eq!(p.state(), GuardState::Paused);
        assert_eq!(
            p.update(&reading(Some(60.0))).unwrap().to,
            GuardState::Normal
        );
    }

    #[test]
    fn pause_tier_off_or_unknown_never_pauses_drop_mode() {
        let mut p = Policy::new(Limits::default(), Mode::Drop);
        assert_eq!(
            p.update(&reading(Some(99.0))).unwrap().to,
            GuardState::Throttled
        );
        assert!(p.update(&reading(Some(120.0))).is_none());
        let mut p = two_tiers(Mode::Drop);
        assert!(p.update(&reading(None)).is_none());
        // The pause tier alone (first tier off) still pauses, with its own hysteresis.
        let mut p = Policy::new(
            Limits {
                temp_limit: 0.0,
                ..Limits::default().with_pause_tier(80.0)
            },
            Mode::Drop,
        );
        assert!(p.update(&reading(Some(79.9))).is_none());
        assert_eq!(
            p.update(&reading(Some(80.0))).unwrap().to,
            GuardState::Paused
        );
        assert!(p.update(&reading(Some(75.0))).is_none());
        assert_eq!(
            p.update(&reading(Some(74.0))).unwrap().to,
            GuardState::Normal
        );
    }

    #[test]
    fn pause_mode_pauses_at_the_first_tier() {
        let mut p = two_tiers(Mode::Pause);
        assert_eq!(
            p.update(&reading(Some(75.0))).unwrap().to,
            GuardState::Paused
        );
        assert!(p.update(&reading(Some(85.0))).is_none());
        assert!(p.update(&reading(Some(72.0))).is_none());
        assert_eq!(
            p.update(&reading(Some(69.0))).unwrap().to,
            GuardState::Normal
        );
    }
}
