// SPDX-License-Identifier: MPL-2.0
//! Step-by-step trace of the GPU path, for finding where a device run stalls.
//!
//! The plugin routes it to a GStreamer debug category (`GST_DEBUG=trtpose-gpu:7`); tools that
//! run without GStreamer (trtposeconvert on a GPU machine) print it on stderr when
//! `TRTPOSE_TRACE_GPU` is set. Otherwise it costs one atomic load per step.

use std::sync::OnceLock;

static SINK: OnceLock<fn(&str)> = OnceLock::new();

/// Sends trace steps to `sink` for the rest of the process; the first call wins.
pub fn set_sink(sink: fn(&str)) {
    let _ = SINK.set(sink);
}

/// Records one step.
pub fn step(step: &str) {
    if let Some(sink) = SINK.get() {
        sink(step);
        return;
    }
    static STDERR: OnceLock<bool> = OnceLock::new();
    if *STDERR.get_or_init(|| std::env::var_os("TRTPOSE_TRACE_GPU").is_some()) {
        eprintln!("[gpu] {step}");
    }
}
