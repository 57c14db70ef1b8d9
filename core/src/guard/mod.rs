//! jetsonguard's GStreamer-free logic: sensors, limits with hysteresis, even frame dropping and
//! the stats line.

pub mod sensors;

pub use sensors::{Memory, Reading, Sampler, SensorWarning, ZoneReading};

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
}

/// Memory and CPU recover this many percentage points below their limits.
pub const MEMORY_HYSTERESIS: f32 = 5.0;
pub const CPU_HYSTERESIS: f32 = 10.0;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            temp_limit: 75.0,
            temp_resume: 70.0,
            memory_limit: 85.0,
            cpu_limit: 90.0,
        }
    }
}

/// Which limits are exceeded (hysteresis applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Over {
    pub temperature: bool,
    pub memory: bool,
    pub cpu: bool,
}

impl Over {
    pub fn any(&self) -> bool {
        self.temperature || self.memory || self.cpu
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
        };
        let to = match (self.over.any(), self.mode) {
            (false, _) => GuardState::Normal,
            (true, Mode::Drop) => GuardState::Throttled,
            (true, Mode::Pause) => GuardState::Paused,
        };
        if to == self.state {
            return None;
        }
        let mut reasons = Vec::new();
        if self.over.temperature {
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

/// Lets frames through evenly at most once per interval of running time.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    next: Option<u64>,
}

impl Throttle {
    /// Whether the frame at `time_ns` passes when at most one frame per `interval_ns` may.
    pub fn admit(&mut self, time_ns: u64, interval_ns: u64) -> bool {
        // A tenth of an interval of slack absorbs timestamp jitter.
        let slack = interval_ns / 10;
        match self.next {
            Some(next) if time_ns + slack < next => false,
            Some(next) => {
                // Keep the cadence, unless a gap left it far behind.
                let n = next + interval_ns;
                self.next = Some(if n + interval_ns < time_ns {
                    time_ns + interval_ns
                } else {
                    n
                });
                true
            }
            None => {
                self.next = Some(time_ns + interval_ns);
                true
            }
        }
    }

    pub fn reset(&mut self) {
        self.next = None;
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

    #[test]
    fn throttle_keeps_an_even_cadence() {
        let mut t = Throttle::default();
        let frame = 33_333_333u64; // 30 fps in
        let kept: Vec<u64> = (0..30u64)
            .filter(|i| t.admit(i * frame, 100_000_000))
            .collect();
        assert_eq!(kept, vec![0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
        // After a long gap the cadence restarts instead of letting a burst through.
        assert!(t.admit(10_000_000_000, 100_000_000));
        assert!(!t.admit(10_000_000_000 + frame, 100_000_000));
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
