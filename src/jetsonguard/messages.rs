// SPDX-License-Identifier: MPL-2.0
//! The structures of `jetsonguard`'s element messages, built from the core's figures.

use std::time::Instant;

use gst::prelude::*;

use crate::guard::{Counts, GuardState, Limits, Progress, Rates, Reading, RunStats, Transition};

/// `jetsonguard-state`: a change between normal, throttled and paused.
pub(super) fn state_change(change: &Transition) -> gst::Structure {
    gst::Structure::builder("jetsonguard-state")
        .field("old-state", change.from.name())
        .field("new-state", change.to.name())
        .field("reason", change.reason.as_str())
        .build()
}

/// `memory-pressure`: memory just went over its limit.
pub(super) fn memory_pressure(r: &Reading, limits: Limits, heap_trimmed: bool) -> gst::Structure {
    gst::Structure::builder("memory-pressure")
        .field("memory-percent", r.memory_percent().unwrap_or(-1.0) as f64)
        .field("limit-percent", limits.memory_limit as f64)
        .field("heap-trimmed", heap_trimmed)
        .build()
}

/// `jetsonguard-stats`: the periodic report. Unknown readings are left out.
pub(super) fn stats(
    state: GuardState,
    r: &Reading,
    counts: Counts,
    rates: Rates,
    progress: Option<&Progress>,
) -> gst::Structure {
    let zones = gst::Array::new(r.zones.iter().map(|z| z.name.to_send_value()));
    let temps = gst::Array::new(r.zones.iter().map(|z| (z.celsius as f64).to_send_value()));
    let gb = |kb: u64| kb as f64 / (1024.0 * 1024.0);
    let mut b = gst::Structure::builder("jetsonguard-stats")
        .field("state", state.name())
        .field("zone-names", zones)
        .field("zone-temperatures", temps)
        .field("input-fps", rates.input_fps)
        .field("output-fps", rates.output_fps)
        .field("frames-in", counts.frames_in)
        .field("frames-out", counts.frames_out)
        .field("frames-dropped", counts.dropped);
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
    let optional = [
        ("memory-percent", r.memory_percent()),
        ("memory-pressure", r.memory_pressure),
        ("cpu-percent", r.cpu_percent),
        ("gpu-percent", r.gpu_percent),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            b = b.field(name, v as f64);
        }
    }
    if let Some(p) = progress {
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
    b.build()
}

/// `jetsonguard-summary`: the totals of a run, at EOS.
pub(super) fn summary(s: &RunStats, now: Instant) -> gst::Structure {
    let mut b = gst::Structure::builder("jetsonguard-summary")
        .field("frames-in", s.counts.frames_in)
        .field("frames-out", s.counts.frames_out)
        .field("frames-dropped", s.counts.dropped)
        .field(
            "seconds",
            now.saturating_duration_since(s.started()).as_secs_f64(),
        )
        .field("throttled-seconds", s.throttled().as_secs_f64())
        .field("paused-seconds", s.paused().as_secs_f64())
        .field("sensor-warnings", s.warnings);
    if let Some(t) = s.max_temp {
        b = b.field("max-temperature", t as f64);
    }
    b.build()
}
