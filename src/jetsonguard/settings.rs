// SPDX-License-Identifier: MPL-2.0
//! `jetsonguard`'s settings, grouped by what they steer (where sensors are read, the limits,
//! what happens over them, reporting), with the property definitions that set them.

use std::path::PathBuf;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use crate::guard::{Limits, Mode};

/// Where the sensors are and how often they are read.
#[derive(Debug, Clone)]
pub(super) struct SourceSettings {
    pub sysfs_root: PathBuf,
    pub procfs_root: PathBuf,
    pub thermal_zones: String,
    /// Empty: no tegrastats log.
    pub tegrastats_file: PathBuf,
    pub poll_interval_ms: u32,
}

/// The limits as the properties give them; see [`LimitSettings::limits`].
#[derive(Debug, Clone)]
pub(super) struct LimitSettings {
    pub temp_limit: f32,
    /// Negative: 5 °C below `temp_limit`.
    pub temp_resume: f32,
    pub memory_limit: f32,
    pub cpu_limit: f32,
    /// 0: off.
    pub temp_pause_limit: f32,
}

/// What happens over a limit.
#[derive(Debug, Clone)]
pub(super) struct ThrottleSettings {
    pub mode: Mode,
    pub fps: f64,
    pub factor: f64,
}

/// Periodic stats messages.
#[derive(Debug, Clone)]
pub(super) struct ReportSettings {
    pub interval: f64,
    pub print: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub sources: SourceSettings,
    pub limits: LimitSettings,
    pub throttle: ThrottleSettings,
    pub report: ReportSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sources: SourceSettings {
                sysfs_root: "/sys".into(),
                procfs_root: "/proc".into(),
                thermal_zones: String::new(),
                tegrastats_file: PathBuf::new(),
                poll_interval_ms: 1000,
            },
            limits: LimitSettings {
                temp_limit: 75.0,
                temp_resume: -1.0,
                memory_limit: 85.0,
                cpu_limit: 90.0,
                temp_pause_limit: 0.0,
            },
            throttle: ThrottleSettings {
                mode: Mode::Drop,
                fps: 0.0,
                factor: 0.5,
            },
            report: ReportSettings {
                interval: 10.0,
                print: false,
            },
        }
    }
}

impl LimitSettings {
    pub fn limits(&self) -> Limits {
        Limits::with_resume(
            self.temp_limit,
            self.temp_resume,
            self.memory_limit,
            self.cpu_limit,
        )
        .with_pause_tier(self.temp_pause_limit)
    }
}

impl SourceSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms as u64)
    }
}

fn string_value(v: &glib::Value) -> String {
    v.get::<Option<String>>()
        .expect("type checked upstream")
        .unwrap_or_default()
}

/// The element's properties; `state` is read-only and lives in the element.
pub(super) fn properties() -> Vec<glib::ParamSpec> {
    let s = Settings::default();
    let (src, l, t, r) = (&s.sources, &s.limits, &s.throttle, &s.report);
    vec![
        glib::ParamSpecString::builder("sysfs-root")
            .nick("sysfs root")
            .blurb("Folder holding class/thermal, devices/gpu.0 and fs/cgroup (a mounted host /sys in containers)")
            .default_value(Some("/sys"))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("procfs-root")
            .nick("procfs root")
            .blurb("Folder holding meminfo, stat, pressure/memory and self/cgroup")
            .default_value(Some("/proc"))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("thermal-zones")
            .nick("Thermal zones")
            .blurb("Comma-separated zone types or globs to watch (e.g. 'GPU-therm,CPU-therm'); empty = the hottest of all")
            .default_value(Some(""))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("tegrastats-file")
            .nick("tegrastats log")
            .blurb("File that 'tegrastats --logfile' appends to; its last line fills temperatures, memory, CPU and GPU load that sysfs/procfs do not give (empty = not used)")
            .default_value(Some(""))
            .mutable_ready()
            .build(),
        glib::ParamSpecFloat::builder("temp-limit")
            .nick("Temperature limit")
            .blurb("Throttle or pause at or above this temperature (°C); 0 disables")
            .minimum(0.0)
            .maximum(200.0)
            .default_value(l.temp_limit)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("temp-resume")
            .nick("Resume temperature")
            .blurb("Resume below this temperature (°C); -1 = 5 °C below temp-limit")
            .minimum(-1.0)
            .maximum(200.0)
            .default_value(l.temp_resume)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("temp-pause-limit")
            .nick("Temperature pause limit")
            .blurb("Pause at or above this temperature (°C) even in drop mode; resumes 5 °C lower; 0 disables")
            .minimum(0.0)
            .maximum(200.0)
            .default_value(l.temp_pause_limit)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("memory-limit")
            .nick("Memory limit")
            .blurb("Throttle or pause at or above this memory use (percent of RAM, or of the cgroup limit); resumes 5 points lower; 0 disables")
            .minimum(0.0)
            .maximum(100.0)
            .default_value(l.memory_limit)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("cpu-limit")
            .nick("CPU limit")
            .blurb("Throttle or pause at or above this CPU load (percent); resumes 10 points lower; 0 disables")
            .minimum(0.0)
            .maximum(100.0)
            .default_value(l.cpu_limit)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("mode", t.mode)
            .nick("Mode")
            .blurb("What to do over a limit")
            .mutable_ready()
            .build(),
        glib::ParamSpecDouble::builder("throttle-fps")
            .nick("Throttle FPS")
            .blurb("Frame rate let through while throttled; 0 = throttle-factor times the input rate")
            .minimum(0.0)
            .maximum(1000.0)
            .default_value(t.fps)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("throttle-factor")
            .nick("Throttle factor")
            .blurb("Fraction of the input frame rate let through while throttled (when throttle-fps is 0)")
            .minimum(0.01)
            .maximum(1.0)
            .default_value(t.factor)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("poll-interval")
            .nick("Poll interval")
            .blurb("Milliseconds between sensor readings (and between checks while paused); 0 = every buffer")
            .maximum(60_000)
            .default_value(src.poll_interval_ms)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("report-interval")
            .nick("Report interval")
            .blurb("Seconds between 'jetsonguard-stats' messages; 0 disables them")
            .minimum(0.0)
            .maximum(86400.0)
            .default_value(r.interval)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("print-stats")
            .nick("Print stats")
            .blurb("Also print each report as one line on stdout")
            .default_value(r.print)
            .mutable_playing()
            .build(),
        glib::ParamSpecString::builder("state")
            .nick("State")
            .blurb("normal, throttled or paused")
            .read_only()
            .build(),
    ]
}

impl Settings {
    /// Sets a property; `false` for names this struct does not hold.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        let (src, l, t, r) = (
            &mut self.sources,
            &mut self.limits,
            &mut self.throttle,
            &mut self.report,
        );
        match name {
            "sysfs-root" => src.sysfs_root = string_value(value).into(),
            "procfs-root" => src.procfs_root = string_value(value).into(),
            "thermal-zones" => src.thermal_zones = string_value(value),
            "tegrastats-file" => src.tegrastats_file = string_value(value).into(),
            "poll-interval" => src.poll_interval_ms = value.get().expect("type checked"),
            "temp-limit" => l.temp_limit = value.get().expect("type checked"),
            "temp-resume" => l.temp_resume = value.get().expect("type checked"),
            "temp-pause-limit" => l.temp_pause_limit = value.get().expect("type checked"),
            "memory-limit" => l.memory_limit = value.get().expect("type checked"),
            "cpu-limit" => l.cpu_limit = value.get().expect("type checked"),
            "mode" => t.mode = value.get().expect("type checked"),
            "throttle-fps" => t.fps = value.get().expect("type checked"),
            "throttle-factor" => t.factor = value.get().expect("type checked"),
            "report-interval" => r.interval = value.get().expect("type checked"),
            "print-stats" => r.print = value.get().expect("type checked"),
            _ => return false,
        }
        true
    }

    /// A property's value; `None` for names this struct does not hold.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        let (src, l, t, r) = (&self.sources, &self.limits, &self.throttle, &self.report);
        Some(match name {
            "sysfs-root" => src.sysfs_root.display().to_string().to_value(),
            "procfs-root" => src.procfs_root.display().to_string().to_value(),
            "thermal-zones" => src.thermal_zones.to_value(),
            "tegrastats-file" => src.tegrastats_file.display().to_string().to_value(),
            "poll-interval" => src.poll_interval_ms.to_value(),
            "temp-limit" => l.temp_limit.to_value(),
            "temp-resume" => l.temp_resume.to_value(),
            "temp-pause-limit" => l.temp_pause_limit.to_value(),
            "memory-limit" => l.memory_limit.to_value(),
            "cpu-limit" => l.cpu_limit.to_value(),
            "mode" => t.mode.to_value(),
            "throttle-fps" => t.fps.to_value(),
            "throttle-factor" => t.factor.to_value(),
            "report-interval" => r.interval.to_value(),
            "print-stats" => r.print.to_value(),
            _ => return None,
        })
    }
}
