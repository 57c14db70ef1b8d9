// SPDX-License-Identifier: MPL-2.0
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use super::messages;
use super::settings::{self, Settings};
use crate::guard::{
    self, FrameTiming, GuardState, Monitor, Progress, RunStats, Sampler, Throttle, Transition,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "jetsonguard",
        gst::DebugColorFlags::empty(),
        Some("Thermal/memory guard"),
    )
});

/// Where buffers sit in time: the throttle's cadence, the frame duration and the segment.
#[derive(Default)]
struct Pacing {
    throttle: Throttle,
    timing: FrameTiming,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    /// Of the latest buffer, for progress.
    last_stream_time: Option<gst::ClockTime>,
}

impl Pacing {
    fn observe(&mut self, pts: Option<gst::ClockTime>) {
        let Some(pts) = pts else { return };
        self.timing.observe(pts.nseconds());
        self.last_stream_time = self
            .segment
            .as_ref()
            .and_then(|s| s.to_stream_time(pts))
            .or(Some(pts));
    }

    fn running_time_ns(&self, pts: Option<gst::ClockTime>) -> Option<u64> {
        let pts = pts?;
        Some(self.segment.as_ref()?.to_running_time(pts)?.nseconds())
    }

    /// The running time of the latest buffer, for throttle QoS events.
    fn qos_timestamp(&self) -> Option<gst::ClockTime> {
        let ts = self
            .timing
            .last_pts_ns()
            .map_or(gst::ClockTime::ZERO, gst::ClockTime::from_nseconds);
        self.segment
            .as_ref()
            .and_then(|s| s.to_running_time(ts))
            .or(Some(ts))
    }
}

struct State {
    /// Sensors, limits and the current state.
    monitor: Monitor,
    pacing: Pacing,
    stats: RunStats,
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

/// Where a paused streaming thread waits; flushing or stopping wakes it at once.
#[derive(Default)]
struct Gate {
    flushing: Mutex<bool>,
    wake: Condvar,
}

impl Gate {
    fn set_flushing(&self, flushing: bool) {
        *self.flushing.lock().unwrap() = flushing;
        self.wake.notify_all();
    }

    /// Sleeps up to `timeout`; false when flushing before or during the wait.
    fn wait(&self, timeout: Duration) -> bool {
        let flushing = self.flushing.lock().unwrap();
        if *flushing {
            return false;
        }
        let (flushing, _) = self.wake.wait_timeout(flushing, timeout).unwrap();
        !*flushing
    }
}

#[derive(Default)]
pub struct JetsonGuard {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    gate: Gate,
}

#[glib::object_subclass]
impl ObjectSubclass for JetsonGuard {
    const NAME: &'static str = "GstJetsonGuard";
    type Type = super::JetsonGuard;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for JetsonGuard {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(settings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        if !s.set(pspec.name(), value) {
            unimplemented!("property {}", pspec.name());
        }
        // Limits and intervals apply to a running stream too.
        let (limits, poll) = (s.limits.limits(), s.sources.poll_interval());
        drop(s);
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.monitor.configure(limits, poll);
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
                .map_or(GuardState::Normal, |st| st.monitor.state())
                .name()
                .to_value();
        }
        let s = self.settings.lock().unwrap();
        s.get(pspec.name())
            .unwrap_or_else(|| unimplemented!("property {}", pspec.name()))
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
            gst::StateChange::ReadyToPaused => self.gate.set_flushing(false),
            // Stopping never waits for cooling: wake a paused streaming thread first.
            gst::StateChange::PausedToReady => self.gate.set_flushing(true),
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

    fn post_later(&self, state: &mut State, s: gst::Structure) {
        let msg = gst::message::Element::builder(s).src(&*self.obj()).build();
        state.pending.push(Pending::Message(msg));
    }

    /// Reads the sensors if the poll interval has passed; posts warnings and state changes.
    fn poll_sensors(&self, state: &mut State, force: bool) {
        let now = Instant::now();
        let Some(sample) = state.monitor.sample(now, force) else {
            return;
        };
        state
            .stats
            .observe(state.monitor.reading(), sample.warnings.len());
        for w in sample.warnings {
            gst::warning!(CAT, imp = self, "{w}");
            let text = w.to_string();
            state.pending.push(Pending::Message(
                gst::message::Warning::builder(gst::ResourceError::Read, &text)
                    .src(&*self.obj())
                    .build(),
            ));
        }
        if let Some(change) = sample.change {
            self.on_state_change(state, &change, now);
        }
        if sample.memory_newly_over {
            let trimmed = guard::trim_heap();
            let s =
                messages::memory_pressure(state.monitor.reading(), state.monitor.limits(), trimmed);
            self.post_later(state, s);
        }
    }

    fn on_state_change(&self, state: &mut State, change: &Transition, now: Instant) {
        state.stats.leave_state(change.from, now);
        gst::info!(
            CAT,
            imp = self,
            "{} -> {}: {}",
            change.from.name(),
            change.to.name(),
            change.reason
        );
        self.post_later(state, messages::state_change(change));
        if change.to == GuardState::Throttled {
            state.pacing.throttle.reset();
            // Tells live sources upstream to slow down (GST_QOS_TYPE_THROTTLE).
            let interval = self.throttle_interval(state);
            let ev = gst::event::Qos::new(
                gst::QOSType::Throttle,
                1.0,
                interval as i64,
                state.pacing.qos_timestamp(),
            );
            state.pending.push(Pending::Upstream(ev));
        }
    }

    /// Minimum spacing of passed frames while throttled, in ns.
    fn throttle_interval(&self, state: &State) -> u64 {
        let s = self.settings.lock().unwrap();
        state
            .pacing
            .timing
            .throttle_interval_ns(s.throttle.fps, s.throttle.factor)
    }

    fn progress(&self, state: &State) -> Option<Progress> {
        let sink = self.obj().static_pad("sink")?;
        let duration = sink.peer_query_duration::<gst::ClockTime>()?;
        let position = state.pacing.last_stream_time?;
        Progress::estimate(
            state.stats.counts.frames_in,
            position.nseconds(),
            duration.nseconds(),
            state.pacing.timing.frame_ns(),
            state.stats.started().elapsed().as_secs_f64(),
        )
    }

    fn maybe_report(&self, state: &mut State, force: bool) {
        let report = self.settings.lock().unwrap().report.clone();
        let Some(rates) = state.stats.report(report.interval, force, Instant::now()) else {
            return;
        };
        let progress = self.progress(state);
        let (r, counts, guard_state) = (
            state.monitor.reading(),
            state.stats.counts,
            state.monitor.state(),
        );
        let s = messages::stats(guard_state, r, counts, rates, progress.as_ref());
        if report.print {
            let line = guard::format_stats_line(
                progress.as_ref(),
                counts.frames_in,
                rates.output_fps,
                r,
                guard_state,
            );
            println!("{line}");
        }
        self.post_later(state, s);
    }

    fn post_summary(&self, state: &mut State) {
        let now = Instant::now();
        let current = state.monitor.state();
        state.stats.leave_state(current, now);
        let s = messages::summary(&state.stats, now);
        self.post_later(state, s);
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
                if state.monitor.state() != GuardState::Paused {
                    return true;
                }
                self.maybe_report(state, false);
                state.monitor.poll_interval().max(Duration::from_millis(10))
            };
            self.send_pending(self.take_pending());
            if !self.gate.wait(poll) {
                return false;
            }
            match self.state.lock().unwrap().as_mut() {
                Some(state) => self.poll_sensors(state, true),
                None => return false,
            }
            self.send_pending(self.take_pending());
        }
    }

    /// Counts the buffer, reads the sensors when due and decides what happens to it.
    fn judge(&self, state: &mut State, buf: &gst::Buffer) -> Verdict {
        state.stats.counts.frames_in += 1;
        state.pacing.observe(buf.pts());
        self.poll_sensors(state, false);
        match state.monitor.state() {
            GuardState::Paused => Verdict::Wait,
            GuardState::Normal => Verdict::Pass,
            GuardState::Throttled => {
                let interval = self.throttle_interval(state);
                // Running time keeps the cadence across segments; untimestamped buffers use
                // the wall clock.
                let t = state
                    .pacing
                    .running_time_ns(buf.pts())
                    .unwrap_or_else(|| state.stats.started().elapsed().as_nanos() as u64);
                if state.pacing.throttle.admit(t, interval) {
                    Verdict::Pass
                } else {
                    state.stats.counts.dropped += 1;
                    self.maybe_report(state, false);
                    Verdict::Drop
                }
            }
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
        let src = &s.sources;
        let mut sampler = Sampler::new(&src.sysfs_root, &src.procfs_root, &src.thermal_zones);
        if !src.tegrastats_file.as_os_str().is_empty() {
            sampler = sampler.with_tegrastats(&src.tegrastats_file);
        }
        let mut state = State {
            monitor: Monitor::new(
                sampler,
                s.limits.limits(),
                s.throttle.mode,
                src.poll_interval(),
            ),
            pacing: Pacing::default(),
            stats: RunStats::new(Instant::now()),
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
        let rate = incaps
            .structure(0)
            .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
            .map(|f| (f.numer(), f.denom()));
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.pacing.timing.set_rate(rate);
        }
        self.parent_set_caps(incaps, outcaps)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStart(_) => self.gate.set_flushing(true),
            gst::EventView::FlushStop(_) => {
                self.gate.set_flushing(false);
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.pacing.throttle.reset();
                    state.pacing.timing.forget_last();
                }
            }
            gst::EventView::Segment(s) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.pacing.segment = s.segment().clone().downcast::<gst::ClockTime>().ok();
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
        let verdict = match self.state.lock().unwrap().as_mut() {
            Some(state) => self.judge(state, buf),
            None => return Err(gst::FlowError::Flushing),
        };
        self.send_pending(self.take_pending());
        if verdict == Verdict::Drop {
            return Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED);
        }
        if verdict == Verdict::Wait && !self.wait_while_paused() {
            gst::debug!(CAT, imp = self, "flushing while paused");
            return Err(gst::FlowError::Flushing);
        }
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.stats.counts.frames_out += 1;
            self.maybe_report(state, false);
        }
        self.send_pending(self.take_pending());
        Ok(gst::FlowSuccess::Ok)
    }
}
