// SPDX-License-Identifier: MPL-2.0
//! jetsonguard alone in a `gst_check::Harness` over a fake sysfs/procfs tree in a temporary
//! folder: property defaults, ranges and round trips (and `state` being read-only); any caps
//! passing the very same buffer while cool; sensor roots that do not exist at all; limits
//! changed while playing; flush and EOS events (and the throttle cadence a flush restarts); a
//! restart. Throttling, pausing, stats and broken single sensors are in tests/jetsonguard.rs.

mod common;

use std::path::Path;
use std::str::FromStr as _;

use common::board::{FakeBoard, MEMINFO_HALF_FREE};
use common::harness::*;
use gst::prelude::*;

/// A guard reading `sys` and `proc`, sampling at every buffer, without periodic stats.
fn guard(sys: &Path, proc: &Path) -> (gst::Element, gst::Bus) {
    let (e, bus) = element_with_bus("jetsonguard");
    e.set_property("sysfs-root", sys.to_str().unwrap());
    e.set_property("procfs-root", proc.to_str().unwrap());
    e.set_property("poll-interval", 0u32);
    e.set_property("report-interval", 0.0f64);
    (e, bus)
}

fn harness(e: &gst::Element, caps: &str) -> gst_check::Harness {
    let mut h = gst_check::Harness::with_element(e, Some("sink"), Some("src"));
    h.set_src_caps_str(caps);
    h
}

const VIDEO: &str = "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1";

/// Frame `i` of a 30 fps stream, 16 bytes of a pattern that depends on `i`.
fn frame(i: u64) -> gst::Buffer {
    let mut b =
        gst::Buffer::from_mut_slice((0..16).map(|k| (k * 7 + i * 13) as u8).collect::<Vec<_>>());
    let b_mut = b.get_mut().unwrap();
    b_mut.set_pts(gst::ClockTime::from_nseconds(i * 1_000_000_000 / 30));
    b_mut.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / 30));
    b
}

#[test]
fn properties_have_documented_defaults_ranges_and_round_trip() {
    let (e, _) = element_with_bus("jetsonguard");
    assert_values_are_declared_defaults(&e);
    assert_eq!(e.property::<String>("sysfs-root"), "/sys");
    assert_eq!(e.property::<String>("procfs-root"), "/proc");
    assert_eq!(e.property::<String>("thermal-zones"), "");
    assert_eq!(enum_nick(&e, "mode"), "drop");
    assert!(!e.property::<bool>("print-stats"));
    assert_numeric(&e, "temp-limit", 75.0, 0.0, 200.0);
    assert_numeric(&e, "temp-resume", -1.0, -1.0, 200.0);
    assert_numeric(&e, "temp-pause-limit", 0.0, 0.0, 200.0);
    assert_numeric(&e, "memory-limit", 85.0, 0.0, 100.0);
    assert_numeric(&e, "cpu-limit", 90.0, 0.0, 100.0);
    assert_numeric(&e, "throttle-fps", 0.0, 0.0, 1000.0);
    assert_numeric(&e, "throttle-factor", 0.5, 0.01, 1.0);
    assert_numeric(&e, "poll-interval", 1000.0, 0.0, 60_000.0);
    assert_numeric(&e, "report-interval", 10.0, 0.0, 86_400.0);
    for (name, value) in [
        ("sysfs-root", "/host/sys"),
        ("procfs-root", "/host/proc"),
        ("thermal-zones", "GPU-therm,CPU-*"),
    ] {
        e.set_property(name, value);
        assert_eq!(e.property::<String>(name), value);
    }
    e.set_property_from_str("mode", "pause");
    assert_eq!(enum_nick(&e, "mode"), "pause");
    e.set_property("print-stats", true);
    assert!(e.property::<bool>("print-stats"));
    // `state` is reported, never set; without a stream it is normal.
    let state = e.find_property("state").unwrap();
    assert!(state.flags().contains(gst::glib::ParamFlags::READABLE));
    assert!(!state.flags().contains(gst::glib::ParamFlags::WRITABLE));
    assert_eq!(e.property::<String>("state"), "normal");
}

#[test]
fn any_caps_pass_the_very_same_buffer_while_cool() {
    let board = FakeBoard::new(&[("CPU-therm", 45.0)], MEMINFO_HALF_FREE);
    for caps in [
        VIDEO,
        "video/x-raw,format=RGB16,width=4,height=2",
        "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2",
        "application/x-anything",
    ] {
        let (e, bus) = guard(&board.sys(), &board.proc());
        assert!(accepts(&e, "sink", caps), "{caps}");
        let mut h = harness(&e, caps);
        for i in 0..5 {
            let input = frame(i);
            let (want, ptr) = (input.map_readable().unwrap().to_vec(), input.as_ptr());
            let out = h.push_and_pull(input).unwrap();
            // Passthrough: the same GstBuffer, so same bytes, timestamps and memory.
            assert_eq!(out.as_ptr(), ptr, "{caps}: buffer {i} was copied");
            assert_eq!(out.map_readable().unwrap().to_vec(), want);
            assert_eq!(out.pts(), frame(i).pts());
            assert_eq!(out.duration(), frame(i).duration());
        }
        assert_eq!(e.property::<String>("state"), "normal");
        assert!(bus_texts(&bus, false).is_empty(), "{caps}");
        let caps_out = h.sinkpad().unwrap().current_caps().unwrap();
        assert_eq!(
            caps_out.to_string(),
            gst::Caps::from_str(caps).unwrap().to_string()
        );
    }
}

#[test]
fn missing_sensor_roots_warn_once_each_and_never_stop_the_stream() {
    let empty = tempfile::tempdir().unwrap();
    let (sys, proc) = (empty.path().join("sys"), empty.path().join("proc"));
    let (e, bus) = guard(&sys, &proc);
    e.set_property("temp-limit", 1.0f32);
    e.set_property("memory-limit", 1.0f32);
    e.set_property("cpu-limit", 1.0f32);
    let mut h = harness(&e, VIDEO);
    for i in 0..10 {
        assert!(h.push_and_pull(frame(i)).is_ok(), "frame {i}");
    }
    assert_eq!(
        e.property::<String>("state"),
        "normal",
        "unknown is not over"
    );
    let warnings = bus_texts(&bus, false);
    assert_eq!(warnings.len(), 3, "thermal, meminfo, stat: {warnings:?}");
    for needle in ["class/thermal", "meminfo", "stat"] {
        assert!(
            warnings.iter().any(|w| w.contains(needle)),
            "{needle}: {warnings:?}"
        );
    }
    assert!(h.push_event(gst::event::Eos::new()));
    let summary = element_messages(&bus, "jetsonguard-summary");
    assert_eq!(summary.len(), 1);
    let s = &summary[0];
    assert_eq!(s.get::<u64>("frames-in").unwrap(), 10);
    assert_eq!(s.get::<u64>("frames-out").unwrap(), 10);
    assert_eq!(s.get::<u64>("sensor-warnings").unwrap(), 3);
    assert!(
        !s.has_field("max-temperature"),
        "no temperature was ever read"
    );
}

#[test]
fn limits_changed_while_playing_apply_at_the_next_reading() {
    let board = FakeBoard::new(&[("CPU-therm", 45.0)], MEMINFO_HALF_FREE);
    let (e, bus) = guard(&board.sys(), &board.proc());
    e.set_property("throttle-fps", 10.0f64);
    let mut h = harness(&e, VIDEO);
    h.push_and_pull(frame(0)).unwrap();
    assert_eq!(e.property::<String>("state"), "normal", "45 °C under 75 °C");
    e.set_property("temp-limit", 40.0f32);
    h.push(frame(1)).unwrap();
    assert_eq!(
        e.property::<String>("state"),
        "throttled",
        "45 °C over 40 °C"
    );
    e.set_property("temp-limit", 0.0f32); // 0 disables the temperature limit
    h.push(frame(2)).unwrap();
    assert_eq!(e.property::<String>("state"), "normal");
    let states: Vec<String> = element_messages(&bus, "jetsonguard-state")
        .iter()
        .map(|s| s.get::<String>("new-state").unwrap())
        .collect();
    assert_eq!(states, ["throttled", "normal"]);
}

#[test]
fn flush_and_eos_go_through_and_a_flush_restarts_the_throttle_cadence() {
    let board = FakeBoard::new(&[("CPU-therm", 45.0)], MEMINFO_HALF_FREE);
    board.set_temp(0, 90.0);
    let (e, bus) = guard(&board.sys(), &board.proc());
    e.set_property("throttle-fps", 10.0f64);
    let mut h = harness(&e, VIDEO);
    // 30 fps throttled to 10: frame 0 passes, frames 1 and 2 are dropped.
    let passed: Vec<u64> = (0..3)
        .filter(|&i| {
            h.push(frame(i)).unwrap();
            h.try_pull().is_some()
        })
        .collect();
    assert_eq!(passed, [0]);
    use gst::EventType as T;
    assert_eq!(
        downstream_events(&mut h),
        [T::StreamStart, T::Caps, T::Segment]
    );
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert_eq!(h.push(frame(3)), Err(gst::FlowError::Flushing));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert_eq!(downstream_events(&mut h), [T::FlushStart, T::FlushStop]);
    assert!(h.push_event(segment()));
    // Frame 1 again, 33 ms after frame 0 passed: without the flush it would be dropped.
    h.push(frame(1)).unwrap();
    assert!(
        h.try_pull().is_some(),
        "the first frame after a flush passes"
    );
    h.push(frame(2)).unwrap();
    assert!(
        h.try_pull().is_none(),
        "then the 10 fps cadence holds again"
    );
    assert_eq!(
        e.property::<String>("state"),
        "throttled",
        "a flush cools nothing"
    );
    assert!(h.push_event(gst::event::Eos::new()));
    assert_eq!(downstream_events(&mut h), [T::Segment, T::Eos]);
    let summary = element_messages(&bus, "jetsonguard-summary");
    assert_eq!(summary.len(), 1);
    // Frame 3 was refused by the flushing pad before reaching the element.
    assert_eq!(summary[0].get::<u64>("frames-in").unwrap(), 5);
    assert_eq!(summary[0].get::<u64>("frames-out").unwrap(), 2);
    assert_eq!(summary[0].get::<u64>("frames-dropped").unwrap(), 3);
}

#[test]
fn a_restart_forgets_the_last_stream_and_reads_the_sensors_again() {
    let board = FakeBoard::new(&[("CPU-therm", 45.0)], MEMINFO_HALF_FREE);
    board.set_temp(0, 90.0);
    let (e, bus) = guard(&board.sys(), &board.proc());
    let mut h = harness(&e, VIDEO);
    h.push(frame(0)).unwrap();
    assert_eq!(e.property::<String>("state"), "throttled");
    assert_eq!(
        e.set_state(gst::State::Null),
        Ok(gst::StateChangeSuccess::Success)
    );
    assert_eq!(
        e.property::<String>("state"),
        "normal",
        "no stream, no state"
    );
    board.set_temp(0, 50.0);
    assert_eq!(
        e.set_state(gst::State::Playing),
        Ok(gst::StateChangeSuccess::Success)
    );
    assert!(h.push_event(gst::event::StreamStart::new("restart")));
    h.set_src_caps_str(VIDEO);
    for i in 0..3 {
        assert!(
            h.push_and_pull(frame(i)).is_ok(),
            "frame {i} after the restart"
        );
    }
    assert_eq!(e.property::<String>("state"), "normal");
    assert!(h.push_event(gst::event::Eos::new()));
    let summary = element_messages(&bus, "jetsonguard-summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(
        summary[0].get::<u64>("frames-in").unwrap(),
        3,
        "counts restart"
    );
    assert_eq!(summary[0].get::<f64>("max-temperature").unwrap(), 50.0);
}
