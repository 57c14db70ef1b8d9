use std::path::PathBuf;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::guard::{self, GuardState, Limits, Mode, Policy, Progress, Reading, Sampler, Throttle};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "jetsonguard",
        gst::DebugColorFlags::empty(),
        Some("Thermal/memory guard"),
    )
});

const DEFAULT_TEMP_LIMIT: f32 = 75.0;
const DEFAULT_TEMP_RESUME: f32 = -1.0;
const DEFAULT_MEMORY_LIMIT: f32 = 85.0;
const DEFAULT_CPU_LIMIT: f32 = 90.0;
const DEFAULT_THROTTLE_FPS: f64 = 0.0;
const DEFAULT_THROTTLE_FACTOR: f64 = 0.5;
const DEFAULT_POLL_INTERVAL_MS: u32 = 1000;
const DEFAULT_REPORT_INTERVAL: f64 = 10.0;

#[derive(Debug, Clone)]
struct Settings {
    sysfs_root: PathBuf,
    procfs_root: PathBuf,
    thermal_zones: String,
    temp_limit: f32,
    temp_resume: f32,
    memory_limit: f32,
    cpu_limit: f32,
    mode: Mode,
    throttle_fps: f64,
    throttle_factor: f64,
    poll_interval_ms: u32,
    report_interval: f64,
    print_stats: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sysfs_root: "/sys".into(),
            procfs_root: "/proc".into(),
            thermal_zones: String::new(),
            temp_limit: DEFAULT_TEMP_LIMIT,
            temp_resume: DEFAULT_TEMP_RESUME,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            cpu_limit: DEFAULT_CPU_LIMIT,
            mode: Mode::Drop,
            throttle_fps: DEFAULT_THROTTLE_FPS,
            throttle_factor: DEFAULT_THROTTLE_FACTOR,
            poll_interval_ms: DEFAULT_POLL_INTERVAL_MS,
            report_interval: DEFAULT_REPORT_INTERVAL,
            print_stats: false,
        }
    }
}

impl Settings {
    fn limits(&self) -> Limits {
        let resume = if self.temp_resume < 0.0 {
            self.temp_limit - 5.0
        } else {
            self.temp_resume.min(self.temp_limit)
        };
        Limits {
            temp_limit: self.temp_limit,
            temp_resume: resume,
            memory_limit: self.memory_limit,
            cpu_limit: self.cpu_limit,
        }
    }
}

struct State {
    sampler: Sampler,
    policy: Policy,
    throttle: Throttle,
    reading: Reading,
    last_sample: Option<Instant>,
    poll: Duration,
    started: Instant,
    /// Input frame duration from caps, else estimated from timestamps.
    caps_frame_ns: Option<u64>,
    est_frame_ns: Option<u64>,
    last_pts: Option<gst::ClockTime>,
    last_stream_time: Option<gst::ClockTime>,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    frames_in: u64,
    frames_out: u64,
    dropped: u64,
    report_at: Instant,
    report_frames_in: u64,
    report_frames_out: u64,
    entered_state: Instant,
    throttled_total: Duration,
    paused_total: Duration,
    max_temp: Option<f32>,
    warnings: u64,
    memory_over: bool,
    /// Messages and upstream events produced under the lock, sent after releasing it (an
    /// application's sync handler may call back into the element).
    pending: Vec<Pending>,
}

/// What happens to the current buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Drop,
    Wait,
}

enum Pending {
    Message(gst::Message),
    Upstream(gst::Event),
}

#[derive(Default)]
pub struct JetsonGuard {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Set while flushing or stopping; wakes a paused streaming thread at once.
    flushing: Mutex<bool>,
    wake: Condvar,
}

#[glib::object_subclass]
impl ObjectSubclass for JetsonGuard {
    const NAME: &'static str = "GstJetsonGuard";
    type Type = super::JetsonGuard;
    type ParentType = gst_base::BaseTransform;
}

fn string_value(v: &glib::Value) -> String {
    v.get::<Option<String>>()
        .expect("type checked upstream")
        .unwrap_or_default()
}

impl ObjectImpl for JetsonGuard {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
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
                glib::ParamSpecFloat::builder("temp-limit")
                    .nick("Temperature limit")
                    .blurb("Throttle or pause at or above this temperature (°C); 0 disables")
                    .minimum(0.0)
                    .maximum(200.0)
                    .default_value(DEFAULT_TEMP_LIMIT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("temp-resume")
                    .nick("Resume temperature")
                    .blurb("Resume below this temperature (°C); -1 = 5 °C below temp-limit")
                    .minimum(-1.0)
                    .maximum(200.0)
                    .default_value(DEFAULT_TEMP_RESUME)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("memory-limit")
                    .nick("Memory limit")
                    .blurb("Throttle or pause at or above this memory use (percent of RAM, or of the cgroup limit); resumes 5 points lower; 0 disables")
                    .minimum(0.0)
                    .maximum(100.0)
                    .default_value(DEFAULT_MEMORY_LIMIT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("cpu-limit")
                    .nick("CPU limit")
                    .blurb("Throttle or pause at or above this CPU load (percent); resumes 10 points lower; 0 disables")
                    .minimum(0.0)
                    .maximum(100.0)
                    .default_value(DEFAULT_CPU_LIMIT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", Mode::Drop)
                    .nick("Mode")
                    .blurb("What to do over a limit")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("throttle-fps")
                    .nick("Throttle FPS")
                    .blurb("Frame rate let through while throttled; 0 = throttle-factor times the input rate")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(DEFAULT_THROTTLE_FPS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("throttle-factor")
                    .nick("Throttle factor")
                    .blurb("Fraction of the input frame rate let through while throttled (when throttle-fps is 0)")
                    .minimum(0.01)
                    .maximum(1.0)
                    .default_value(DEFAULT_THROTTLE_FACTOR)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("poll-interval")
                    .nick("Poll interval")
                    .blurb("Milliseconds between sensor readings (and between checks while paused); 0 = every buffer")
                    .maximum(60_000)
                    .default_value(DEFAULT_POLL_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("report-interval")
                    .nick("Report interval")
                    .blurb("Seconds between 'jetsonguard-stats' messages; 0 disables them")
                    .minimum(0.0)
                    .maximum(86400.0)
                    .default_value(DEFAULT_REPORT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("print-stats")
                    .nick("Print stats")
                    .blurb("Also print each report as one line on stdout")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("state")
                    .nick("State")
                    .blurb("normal, throttled or paused")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "sysfs-root" => s.sysfs_root = string_value(value).into(),
            "procfs-root" => s.procfs_root = string_value(value).into(),
            "thermal-zones" => s.thermal_zones = string_value(value),
            "temp-limit" => s.temp_limit = value.get().expect("type checked"),
            "temp-resume" => s.temp_resume = value.get().expect("type checked"),
            "memory-limit" => s.memory_limit = value.get().expect("type checked"),
            "cpu-limit" => s.cpu_limit = value.get().expect("type checked"),
            "mode" => s.mode = value.get().expect("type checked"),
            "throttle-fps" => s.throttle_fps = value.get().expect("type checked"),
            "throttle-factor" => s.throttle_factor = value.get().expect("type checked"),
            "poll-interval" => s.poll_interval_ms = value.get().expect("type checked"),
            "report-interval" => s.report_interval = value.get().expect("type checked"),
            "print-stats" => s.print_stats = value.get().expect("type checked"),
            other => unimplemented!("property {other}"),
        }
        // Limits and intervals apply to a running stream too.
        let (limits, poll) = (s.limits(), Duration::from_millis(s.poll_interval_ms as u64));
        drop(s);
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.policy.limits = limits;
            state.poll = poll;
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        // The streaming thread locks state then settings: never the other way round here.
        if pspec.name() == "state" {
            return self
                .state
                .lock()
                .unwrap()
                .as_ref()
                .map_or(GuardState::Normal, |st| st.policy.state())
                .name()
                .to_value();
        }
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "sysfs-root" => s.sysfs_root.display().to_string().to_value(),
            "procfs-root" => s.procfs_root.display().to_string().to_value(),
            "thermal-zones" => s.thermal_zones.to_value(),
            "temp-limit" => s.temp_limit.to_value(),
            "temp-resume" => s.temp_resume.to_value(),
            "memory-limit" => s.memory_limit.to_value(),
            "cpu-limit" => s.cpu_limit.to_value(),
            "mode" => s.mode.to_value(),
            "throttle-fps" => s.throttle_fps.to_value(),
            "throttle-factor" => s.throttle_factor.to_value(),
            "poll-interval" => s.poll_interval_ms.to_value(),
            "report-interval" => s.report_interval.to_value(),
            "print-stats" => s.print_stats.to_value(),
            other => unimplemented!("property {other}"),
        }
    }
}

impl GstObjectImpl for JetsonGuard {}

impl ElementImpl for JetsonGuard {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Thermal and memory guard",
                "Generic",
                "Passes buffers through while watching temperature, memory and load; throttles or pauses with hysteresis over the limits and reports what it sees",
                "gst-trtpose developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::video::always_pad_templates(&gst::Caps::new_any()));
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => *self.flushing.lock().unwrap() = false,
            // Stopping never waits for cooling: wake a paused streaming thread first.
            gst::StateChange::PausedToReady => self.set_flushing(true),
            _ => {}
        }
        self.parent_change_state(transition)
    }
}

impl JetsonGuard {
    /// Sends what was queued under the state lock; call with the lock released.
    fn send_pending(&self, pending: Vec<Pending>) {
        for p in pending {
            match p {
                Pending::Message(m) => {
                    let _ = self.obj().post_message(m);
                }
                Pending::Upstream(e) => {
                    let sink = self.obj().static_pad("sink").expect("has a sink pad");
                    let _ = sink.push_event(e);
                }
            }
        }
    }

    fn take_pending(&self) -> Vec<Pending> {
        self.state
            .lock()
            .unwrap()
            .as_mut()
            .map(|s| std::mem::take(&mut s.pending))
            .unwrap_or_default()
    }

    fn set_flushing(&self, flushing: bool) {
        *self.flushing.lock().unwrap() = flushing;
        self.wake.notify_all();
    }

    /// Reads the sensors if the poll interval has passed; posts warnings and state changes.
    fn poll_sensors(&self, state: &mut State, force: bool) {
        let now = Instant::now();
        if !force
            && state
                .last_sample
                .is_some_and(|t| now.duration_since(t) < state.poll)
        {
            return;
        }
        state.last_sample = Some(now);
        let (reading, warnings) = state.sampler.sample();
        for w in warnings {
            state.warnings += 1;
            gst::warning!(CAT, imp = self, "{w}");
            let text = w.to_string();
            state.pending.push(Pending::Message(
                gst::message::Warning::builder(gst::ResourceError::Read, &text)
                    .src(&*self.obj())
                    .build(),
            ));
        }
        if let Some(t) = reading.temperature {
            state.max_temp = Some(state.max_temp.map_or(t, |m| m.max(t)));
        }
        state.reading = reading;
        if let Some(change) = state.policy.update(&state.reading) {
            self.account_state_time(state, change.from, now);
            gst::info!(
                CAT,
                imp = self,
                "{} -> {}: {}",
                change.from.name(),
                change.to.name(),
                change.reason
            );
            let s = gst::Structure::builder("jetsonguard-state")
                .field("old-state", change.from.name())
                .field("new-state", change.to.name())
                .field("reason", change.reason.as_str())
                .build();
            state.pending.push(Pending::Message(
                gst::message::Element::builder(s).src(&*self.obj()).build(),
            ));
            if change.to == GuardState::Throttled {
                state.throttle.reset();
                self.send_throttle_qos(state);
            }
        }
        let over_memory = state.policy.over().memory;
        if over_memory && !state.memory_over {
            let trimmed = guard::trim_heap();
            let s = gst::Structure::builder("memory-pressure")
                .field(
                    "memory-percent",
                    state.reading.memory_percent().unwrap_or(-1.0) as f64,
                )
                .field("limit-percent", state.policy.limits.memory_limit as f64)
                .field("heap-trimmed", trimmed)
                .build();
            state.pending.push(Pending::Message(
                gst::message::Element::builder(s).src(&*self.obj()).build(),
            ));
        }
        state.memory_over = over_memory;
    }

    /// Adds the time since the last change to the totals of `was`, the state being left.
    fn account_state_time(&self, state: &mut State, was: GuardState, now: Instant) {
        let spent = now.duration_since(state.entered_state);
        match was {
            GuardState::Throttled => state.throttled_total += spent,
            GuardState::Paused => state.paused_total += spent,
            GuardState::Normal => {}
        }
        state.entered_state = now;
    }

    /// Tells live sources upstream to slow down (GST_QOS_TYPE_THROTTLE).
    fn send_throttle_qos(&self, state: &mut State) {
        let interval = self.throttle_interval(state);
        let ts = state.last_pts.unwrap_or(gst::ClockTime::ZERO);
        let ev = gst::event::Qos::new(
            gst::QOSType::Throttle,
            1.0,
            interval as i64,
            state
                .segment
                .as_ref()
                .and_then(|s| s.to_running_time(ts))
                .or(Some(ts)),
        );
        state.pending.push(Pending::Upstream(ev));
    }

    /// Minimum spacing of passed frames while throttled, in ns.
    fn throttle_interval(&self, state: &State) -> u64 {
        let s = self.settings.lock().unwrap();
        if s.throttle_fps > 0.0 {
            return (1e9 / s.throttle_fps) as u64;
        }
        let frame = state
            .caps_frame_ns
            .or(state.est_frame_ns)
            .unwrap_or(33_333_333);
        (frame as f64 / s.throttle_factor.max(0.01)) as u64
    }

    fn progress(&self, state: &State) -> Option<Progress> {
        let sink = self.obj().static_pad("sink")?;
        let duration = sink.peer_query_duration::<gst::ClockTime>()?;
        let position = state.last_stream_time?;
        if duration.is_zero() {
            return None;
        }
        let percent = (100.0 * position.nseconds() as f64 / duration.nseconds() as f64).min(100.0);
        let frame = state.caps_frame_ns.or(state.est_frame_ns);
        let frames_total = frame.map(|f| duration.nseconds().div_ceil(f.max(1)));
        let wall = state.started.elapsed().as_secs_f64();
        // Remaining media time at the media-time rate seen so far.
        let media_rate = position.nseconds() as f64 / 1e9 / wall.max(1e-9);
        let eta = (media_rate > 0.0)
            .then(|| duration.saturating_sub(position).nseconds() as f64 / 1e9 / media_rate);
        Some(Progress {
            frames_done: state.frames_in,
            frames_total,
            percent,
            eta_seconds: eta,
        })
    }

    fn maybe_report(&self, state: &mut State, force: bool) {
        let (interval, print) = {
            let s = self.settings.lock().unwrap();
            (s.report_interval, s.print_stats)
        };
        if interval <= 0.0 && !force {
            return;
        }
        let elapsed = state.report_at.elapsed().as_secs_f64();
        if !force && elapsed < interval {
            return;
        }
        let fps_in = (state.frames_in - state.report_frames_in) as f64 / elapsed.max(1e-9);
        let fps_out = (state.frames_out - state.report_frames_out) as f64 / elapsed.max(1e-9);
        state.report_at = Instant::now();
        state.report_frames_in = state.frames_in;
        state.report_frames_out = state.frames_out;
        let r = &state.reading;
        let progress = self.progress(state);
        let zones = gst::Array::new(r.zones.iter().map(|z| z.name.to_send_value()));
        let temps = gst::Array::new(r.zones.iter().map(|z| (z.celsius as f64).to_send_value()));
        let gb = |kb: u64| kb as f64 / (1024.0 * 1024.0);
        let mut b = gst::Structure::builder("jetsonguard-stats")
            .field("state", state.policy.state().name())
            .field("zone-names", zones)
            .field("zone-temperatures", temps)
            .field("input-fps", fps_in)
            .field("output-fps", fps_out)
            .field("frames-in", state.frames_in)
            .field("frames-out", state.frames_out)
            .field("frames-dropped", state.dropped);
        if let Some(t) = r.temperature {
            b = b.field("temperature", t as f64);
        }
        if let Some(m) = r.memory {
            b = b
                .field("memory-total-gb", gb(m.total_kb))
                .field(
                    "memory-used-gb",
                    gb(m.total_kb.saturating_sub(m.available_kb)),
                )
                .field("swap-total-gb", gb(m.swap_total_kb))
                .field(
                    "swap-used-gb",
                    gb(m.swap_total_kb.saturating_sub(m.swap_free_kb)),
                );
            if let Some(p) = m.swap_used_percent() {
                b = b.field("swap-percent", p as f64);
            }
        }
        if let Some(p) = r.memory_percent() {
            b = b.field("memory-percent", p as f64);
        }
        if let Some(p) = r.memory_pressure {
            b = b.field("memory-pressure", p as f64);
        }
        if let Some(c) = r.cpu_percent {
            b = b.field("cpu-percent", c as f64);
        }
        if let Some(g) = r.gpu_percent {
            b = b.field("gpu-percent", g as f64);
        }
        if let Some(p) = &progress {
            b = b
                .field("progress-percent", p.percent)
                .field("frames-done", p.frames_done);
            if let Some(t) = p.frames_total {
                b = b.field("frames-total", t);
            }
            if let Some(e) = p.eta_seconds {
                b = b.field("eta-seconds", e);
            }
        }
        let msg = gst::message::Element::builder(b.build())
            .src(&*self.obj())
            .build();
        state.pending.push(Pending::Message(msg));
        if print {
            println!(
                "{}",
                guard::format_stats_line(
                    progress.as_ref(),
                    state.frames_in,
                    fps_out,
                    r,
                    state.policy.state()
                )
            );
        }
    }

    fn post_summary(&self, state: &mut State) {
        let current = state.policy.state();
        self.account_state_time(state, current, Instant::now());
        let mut b = gst::Structure::builder("jetsonguard-summary")
            .field("frames-in", state.frames_in)
            .field("frames-out", state.frames_out)
            .field("frames-dropped", state.dropped)
            .field("seconds", state.started.elapsed().as_secs_f64())
            .field("throttled-seconds", state.throttled_total.as_secs_f64())
            .field("paused-seconds", state.paused_total.as_secs_f64())
            .field("sensor-warnings", state.warnings);
        if let Some(t) = state.max_temp {
            b = b.field("max-temperature", t as f64);
        }
        let msg = gst::message::Element::builder(b.build())
            .src(&*self.obj())
            .build();
        state.pending.push(Pending::Message(msg));
    }

    /// Blocks while paused, re-reading the sensors every poll interval. Returns false when
    /// flushing or stopping interrupted the wait. Never holds the state lock while sleeping.
    fn wait_while_paused(&self) -> bool {
        loop {
            let poll = {
                let mut guard = self.state.lock().unwrap();
                let Some(state) = guard.as_mut() else {
                    return false;
                };
                if state.policy.state() != GuardState::Paused {
                    return true;
                }
                self.maybe_report(state, false);
                state.poll.max(Duration::from_millis(10))
            };
            self.send_pending(self.take_pending());
            {
                let flushing = self.flushing.lock().unwrap();
                if *flushing {
                    return false;
                }
                let (flushing, _) = self.wake.wait_timeout(flushing, poll).unwrap();
                if *flushing {
                    return false;
                }
            }
            match self.state.lock().unwrap().as_mut() {
                Some(state) => self.poll_sensors(state, true),
                None => return false,
            }
            self.send_pending(self.take_pending());
        }
    }
}

impl BaseTransformImpl for JetsonGuard {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let now = Instant::now();
        let mut state = State {
            sampler: Sampler::new(&s.sysfs_root, &s.procfs_root, &s.thermal_zones),
            policy: Policy::new(s.limits(), s.mode),
            throttle: Throttle::default(),
            reading: Reading::default(),
            last_sample: None,
            poll: Duration::from_millis(s.poll_interval_ms as u64),
            started: now,
            caps_frame_ns: None,
            est_frame_ns: None,
            last_pts: None,
            last_stream_time: None,
            segment: None,
            frames_in: 0,
            frames_out: 0,
            dropped: 0,
            report_at: now,
            report_frames_in: 0,
            report_frames_out: 0,
            entered_state: now,
            throttled_total: Duration::ZERO,
            paused_total: Duration::ZERO,
            max_temp: None,
            warnings: 0,
            memory_over: false,
            pending: Vec::new(),
        };
        self.poll_sensors(&mut state, true);
        let pending = std::mem::take(&mut state.pending);
        *self.state.lock().unwrap() = Some(state);
        self.send_pending(pending);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let frame_ns = incaps
            .structure(0)
            .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
            .filter(|f| f.numer() > 0 && f.denom() > 0)
            .map(|f| 1_000_000_000u64 * f.denom() as u64 / f.numer() as u64);
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.caps_frame_ns = frame_ns;
        }
        self.parent_set_caps(incaps, outcaps)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStart(_) => self.set_flushing(true),
            gst::EventView::FlushStop(_) => {
                self.set_flushing(false);
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.throttle.reset();
                    state.last_pts = None;
                }
            }
            gst::EventView::Segment(s) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.segment = s.segment().clone().downcast::<gst::ClockTime>().ok();
                }
            }
            gst::EventView::Eos(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    self.maybe_report(state, true);
                    self.post_summary(state);
                }
                self.send_pending(self.take_pending());
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Decide under the lock; wait, send messages and return after releasing it.
        let decision = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else {
                return Err(gst::FlowError::Flushing);
            };
            state.frames_in += 1;
            if let Some(pts) = buf.pts() {
                if let Some(prev) = state.last_pts
                    && pts > prev
                {
                    let d = (pts - prev).nseconds();
                    state.est_frame_ns = Some(state.est_frame_ns.map_or(d, |e| (3 * e + d) / 4));
                }
                state.last_pts = Some(pts);
                state.last_stream_time = state
                    .segment
                    .as_ref()
                    .and_then(|s| s.to_stream_time(pts))
                    .or(Some(pts));
            }
            self.poll_sensors(state, false);
            match state.policy.state() {
                GuardState::Paused => Verdict::Wait,
                GuardState::Throttled => {
                    let interval = self.throttle_interval(state);
                    // Running time keeps the cadence across segments; untimestamped buffers use
                    // the wall clock.
                    let t = buf
                        .pts()
                        .and_then(|p| state.segment.as_ref().and_then(|s| s.to_running_time(p)))
                        .map(|t| t.nseconds())
                        .unwrap_or_else(|| state.started.elapsed().as_nanos() as u64);
                    if state.throttle.admit(t, interval) {
                        Verdict::Pass
                    } else {
                        state.dropped += 1;
                        self.maybe_report(state, false);
                        Verdict::Drop
                    }
                }
                GuardState::Normal => Verdict::Pass,
            }
        };
        self.send_pending(self.take_pending());
        if decision == Verdict::Drop {
            return Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED);
        }
        if decision == Verdict::Wait && !self.wait_while_paused() {
            gst::debug!(CAT, imp = self, "flushing while paused");
            return Err(gst::FlowError::Flushing);
        }
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.frames_out += 1;
            self.maybe_report(state, false);
        }
        self.send_pending(self.take_pending());
        Ok(gst::FlowSuccess::Ok)
    }
}
