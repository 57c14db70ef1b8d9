// SPDX-License-Identifier: MPL-2.0
//! jetsonguard in real pipelines with real files in fake sysfs/procfs trees that the tests
//! rewrite while the stream runs.

mod common;

use std::time::{Duration, Instant};

use common::board::FakeBoard;
use common::harness::element_messages as messages;
use common::init_gst as init;
use gst::prelude::*;

/// A board made of files: two thermal zones, meminfo, stat, PSI and Jetson GPU load.
fn fake_board() -> FakeBoard {
    let b = FakeBoard::new(
        &[("CPU-therm", 45.0), ("GPU-therm", 43.0)],
        "MemTotal:        4194304 kB\nMemFree:          100000 kB\nMemAvailable:    2097152 kB\nSwapTotal:       1048576 kB\nSwapFree:         786432 kB\n",
    );
    b.write_proc(
        "pressure/memory",
        "some avg10=2.50 avg60=1.00 avg300=0.50 total=10\n",
    );
    b.write_sys("devices/gpu.0/load", "500\n");
    b
}

fn guard_element(board: &FakeBoard, extra: &[(&str, &str)]) -> gst::Element {
    init();
    let (sys, proc) = (board.sys(), board.proc());
    let mut b = gst::ElementFactory::make("jetsonguard")
        .property("sysfs-root", sys.to_str().unwrap())
        .property("procfs-root", proc.to_str().unwrap());
    for (k, v) in extra {
        b = b.property_from_str(k, v);
    }
    b.build().unwrap()
}

fn frame(i: u64) -> gst::Buffer {
    let mut b = gst::Buffer::with_size(16).unwrap();
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_nseconds(i * 1_000_000_000 / 30));
    b
}

fn warnings(bus: &gst::Bus) -> Vec<String> {
    std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect()
}

/// A harness around `e` fed 4×4 RGB at 30 fps, with the element's messages on the bus returned.
fn harness(e: &gst::Element) -> (gst_check::Harness, gst::Bus) {
    let bus = gst::Bus::new();
    e.set_bus(Some(&bus));
    let mut h = gst_check::Harness::with_element(e, Some("sink"), Some("src"));
    h.set_src_caps_str("video/x-raw,format=RGB,width=4,height=4,framerate=30/1");
    (h, bus)
}
#[test]
fn drop_mode_throttles_with_hysteresis() {
    let board = fake_board();
    let e = guard_element(
        &board,
        &[
            ("poll-interval", "0"),
            ("throttle-fps", "10"),
            ("report-interval", "0"),
        ],
    );
    let (mut h, bus) = harness(&e);
    let mut next = 0u64;
    let mut phase = |h: &mut gst_check::Harness, temp: f32| -> Vec<u64> {
        board.set_temp(0, temp);
        let mut out = Vec::new();
        for _ in 0..30 {
            h.push(frame(next)).unwrap();
            next += 1;
            while let Some(b) = h.try_pull() {
                out.push(b.pts().unwrap().nseconds() * 30 / 1_000_000_000);
            }
        }
        out
    };
    let cool = phase(&mut h, 50.0);
    assert_eq!(cool.len(), 30, "below the limit everything passes");
    let hot = phase(&mut h, 80.0);
    assert_eq!(hot.len(), 10, "30 fps throttled to 10 fps: {hot:?}");
    assert!(
        hot.windows(2).all(|w| w[1] - w[0] == 3),
        "dropped evenly: {hot:?}"
    );
    assert_eq!(e.property::<String>("state"), "throttled");
    // Under the limit but above the resume level (70 °C): still throttled.
    let warm = phase(&mut h, 72.0);
    assert_eq!(warm.len(), 10, "hysteresis keeps throttling at 72 °C");
    let recovered = phase(&mut h, 65.0);
    assert_eq!(
        recovered.len(),
        30,
        "below the resume level everything passes again"
    );
    let states: Vec<(String, String)> = messages(&bus, "jetsonguard-state")
        .iter()
        .map(|s| {
            (
                s.get::<String>("new-state").unwrap(),
                s.get::<String>("reason").unwrap(),
            )
        })
        .collect();
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!(states[0].0, "throttled");
    assert!(states[0].1.contains("temperature 80.0"), "{}", states[0].1);
    assert_eq!(states[1].0, "normal");
}

#[test]
fn throttle_factor_follows_the_input_rate_and_asks_upstream_to_slow_down() {
    let board = fake_board();
    board.set_temp(1, 90.0);
    let e = guard_element(
        &board,
        &[
            ("poll-interval", "0"),
            ("throttle-factor", "0.25"),
            ("report-interval", "0"),
        ],
    );
    let (mut h, _bus) = harness(&e);
    let mut passed = 0;
    for i in 0..40 {
        h.push(frame(i)).unwrap();
        while h.try_pull().is_some() {
            passed += 1;
        }
    }
    assert_eq!(passed, 10, "a quarter of 40 frames");
    // A throttle QoS event went upstream when throttling started.
    let qos = std::iter::from_fn(|| h.try_pull_upstream_event())
        .find(|e| e.type_() == gst::EventType::Qos)
        .expect("QoS event upstream");
    let gst::EventView::Qos(q) = qos.view() else {
        unreachable!()
    };
    let (ty, _, diff, _) = q.get();
    assert_eq!(ty, gst::QOSType::Throttle);
    assert_eq!(diff, 4 * 33_333_333);
}

fn pipeline_with_appsrc(
    board: &FakeBoard,
    extra: &str,
) -> (gst::Pipeline, gst_app::AppSrc, gst_app::AppSink) {
    init();
    let p = common::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1 ! jetsonguard name=guard {} {extra} ! appsink name=sink sync=false",
        board.props()
    ));
    let src = common::by_name::<gst_app::AppSrc>(&p, "src");
    let sink = common::by_name::<gst_app::AppSink>(&p, "sink");
    (p, src, sink)
}

#[test]
fn pause_mode_blocks_while_hot_and_loses_nothing() {
    let board = fake_board();
    board.set_temp(0, 85.0);
    let (p, src, sink) = pipeline_with_appsrc(&board, "mode=pause poll-interval=20");
    p.set_state(gst::State::Playing).unwrap();
    for i in 0..6 {
        src.push_buffer(frame(i)).unwrap();
    }
    src.end_of_stream().unwrap();
    // Hot: nothing comes out.
    assert!(
        sink.try_pull_preroll(gst::ClockTime::from_mseconds(400))
            .is_none()
    );
    assert_eq!(
        p.by_name("guard").unwrap().property::<String>("state"),
        "paused"
    );
    // Cooling below the resume level releases every frame, in order.
    board.set_temp(0, 60.0);
    let mut pts = Vec::new();
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(5)) {
        pts.push(s.buffer().unwrap().pts().unwrap());
    }
    assert_eq!(
        pts,
        (0..6).map(|i| frame(i).pts().unwrap()).collect::<Vec<_>>()
    );
    let bus = p.bus().unwrap();
    let summary = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(5),
            &[gst::MessageType::Element],
        )
        .into_iter()
        .chain(std::iter::from_fn(|| bus.pop()))
        .filter_map(|m| m.structure().map(|s| s.to_owned()))
        .find(|s| s.name() == "jetsonguard-summary")
        .expect("summary at EOS");
    assert_eq!(summary.get::<u64>("frames-out").unwrap(), 6);
    assert_eq!(summary.get::<u64>("frames-dropped").unwrap(), 0);
    assert!(summary.get::<f64>("paused-seconds").unwrap() >= 0.3);
    assert_eq!(summary.get::<f64>("max-temperature").unwrap(), 85.0);
    p.set_state(gst::State::Null).unwrap();
}

#[test]
fn pause_tier_blocks_drop_mode_until_cooler() {
    let board = fake_board();
    board.set_temp(0, 85.0);
    let (p, src, sink) = pipeline_with_appsrc(
        &board,
        "mode=drop temp-limit=75 temp-pause-limit=80 poll-interval=20",
    );
    p.set_state(gst::State::Playing).unwrap();
    src.push_buffer(frame(0)).unwrap();
    // Above the pause tier drop mode drops nothing: it waits.
    assert!(
        sink.try_pull_preroll(gst::ClockTime::from_mseconds(400))
            .is_none()
    );
    let guard = p.by_name("guard").unwrap();
    assert_eq!(guard.property::<String>("state"), "paused");
    // 77 °C: under the pause tier's resume level (75) only at 74.9, so still paused.
    board.set_temp(0, 77.0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(guard.property::<String>("state"), "paused");
    // Between the tiers: throttled, the frame goes through.
    board.set_temp(0, 74.0);
    assert!(
        sink.try_pull_sample(gst::ClockTime::from_seconds(5))
            .is_some()
    );
    assert_eq!(guard.property::<String>("state"), "throttled");
    p.set_state(gst::State::Null).unwrap();
}

#[test]
fn flushing_seek_and_stop_unblock_a_paused_stream_at_once() {
    let board = fake_board();
    board.set_temp(0, 99.0);
    init();
    let p = common::launch(&format!(
        "videotestsrc ! video/x-raw,width=32,height=24,framerate=30/1 ! jetsonguard {} mode=pause poll-interval=100 ! fakesink",
        board.props()
    ));
    let _ = p.set_state(gst::State::Playing);
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert!(
        p.seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
            .is_ok()
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "flushing seek took {:?}",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    p.set_state(gst::State::Null).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stopping took {:?}",
        t.elapsed()
    );
}

#[test]
fn stats_messages_carry_the_sensor_numbers() {
    let board = fake_board();
    let e = guard_element(
        &board,
        &[("poll-interval", "0"), ("report-interval", "0.000001")],
    );
    let (mut h, bus) = harness(&e);
    h.push(frame(0)).unwrap();
    // 1000 more jiffies, 400 of them idle: 60 % load.
    board.write_proc("stat", "cpu  400 0 400 1200 0 0 0 0 0 0\n");
    std::thread::sleep(Duration::from_millis(2));
    h.push(frame(1)).unwrap();
    let stats = messages(&bus, "jetsonguard-stats");
    let s = stats.last().expect("stats message");
    assert_eq!(s.get::<f64>("temperature").unwrap(), 45.0);
    let zones: Vec<String> = s
        .get::<gst::Array>("zone-names")
        .unwrap()
        .iter()
        .map(|v| v.get::<String>().unwrap())
        .collect();
    assert_eq!(zones, ["CPU-therm", "GPU-therm"]);
    let temps: Vec<f64> = s
        .get::<gst::Array>("zone-temperatures")
        .unwrap()
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect();
    assert_eq!(temps, [45.0, 43.0]);
    assert_eq!(s.get::<f64>("memory-percent").unwrap(), 50.0);
    assert_eq!(s.get::<f64>("memory-total-gb").unwrap(), 4.0);
    assert_eq!(s.get::<f64>("memory-used-gb").unwrap(), 2.0);
    assert_eq!(s.get::<f64>("swap-percent").unwrap(), 25.0);
    assert_eq!(s.get::<f64>("swap-total-gb").unwrap(), 1.0);
    assert_eq!(s.get::<f64>("memory-pressure").unwrap(), 2.5);
    assert_eq!(s.get::<f64>("gpu-percent").unwrap(), 50.0);
    assert_eq!(s.get::<f64>("cpu-percent").unwrap(), 60.0);
    assert_eq!(s.get::<String>("state").unwrap(), "normal");
    assert_eq!(s.get::<u64>("frames-in").unwrap(), 2);
    assert_eq!(s.get::<u64>("frames-out").unwrap(), 2);
}

#[test]
fn missing_and_garbage_sensors_warn_once_and_never_throttle() {
    let board = fake_board();
    FakeBoard::write(&board.temp_path(1), "garbage\n");
    std::fs::remove_file(board.proc().join("meminfo")).unwrap();
    let e = guard_element(
        &board,
        &[
            ("poll-interval", "0"),
            ("report-interval", "0"),
            ("thermal-zones", "GPU-therm"),
            ("temp-limit", "10"),
        ],
    );
    let (mut h, bus) = harness(&e);
    for i in 0..20 {
        h.push(frame(i)).unwrap();
        assert!(h.try_pull().is_some(), "frame {i} passes");
    }
    let w = warnings(&bus);
    assert_eq!(w.len(), 2, "one warning per broken file: {w:?}");
    assert!(
        w.iter()
            .any(|w| w.contains("thermal_zone1/temp") && w.contains("garbage")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("meminfo") && w.contains("missing")),
        "{w:?}"
    );
    assert_eq!(
        e.property::<String>("state"),
        "normal",
        "unknown is not over the limit"
    );
    // The sensor comes back hot mid-stream: now it counts.
    board.set_temp(1, 50.0);
    h.push(frame(20)).unwrap();
    assert_eq!(e.property::<String>("state"), "throttled");
}

#[test]
fn memory_pressure_trims_the_heap_and_tells_the_app() {
    let board = fake_board();
    board.write_proc(
        "meminfo",
        "MemTotal: 1000000 kB\nMemAvailable: 50000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
    );
    let e = guard_element(&board, &[("poll-interval", "0"), ("report-interval", "0")]);
    let (mut h, bus) = harness(&e);
    h.push(frame(0)).unwrap();
    h.push(frame(1)).unwrap();
    let pressure = messages(&bus, "memory-pressure");
    assert_eq!(pressure.len(), 1, "posted once on entering the state");
    assert_eq!(pressure[0].get::<f64>("memory-percent").unwrap(), 95.0);
    assert!(pressure[0].has_field("heap-trimmed"));
    assert_eq!(e.property::<String>("state"), "throttled");
}

#[test]
fn file_sources_report_progress_eta_and_a_summary() {
    let board = fake_board();
    init();
    let p = common::launch(&format!(
        "filesrc location={} ! matroskademux ! vp8dec ! jetsonguard {} poll-interval=0 report-interval=0.05 print-stats=true ! fakesink",
        common::quote(&common::media("vtest_walk_10s.webm")),
        board.props()
    ));
    p.set_state(gst::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let mut stats = Vec::new();
    let mut summary = None;
    while let Some(m) = bus.timed_pop(gst::ClockTime::from_seconds(30)) {
        match m.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
        if let Some(s) = m.structure() {
            match s.name().as_str() {
                "jetsonguard-stats" => stats.push(s.to_owned()),
                "jetsonguard-summary" => summary = Some(s.to_owned()),
                _ => {}
            }
        }
    }
    p.set_state(gst::State::Null).unwrap();
    let last = stats.last().expect("stats");
    assert_eq!(last.get::<u64>("frames-total").unwrap(), 100);
    assert!((last.get::<f64>("progress-percent").unwrap() - 99.0).abs() < 1.01);
    assert!(last.get::<f64>("eta-seconds").unwrap() >= 0.0);
    assert_eq!(last.get::<u64>("frames-done").unwrap(), 100);
    let summary = summary.expect("summary at EOS");
    assert_eq!(summary.get::<u64>("frames-in").unwrap(), 100);
    assert_eq!(summary.get::<u64>("frames-out").unwrap(), 100);
    assert_eq!(summary.get::<f64>("max-temperature").unwrap(), 45.0);
}

#[test]
fn a_sensor_that_vanishes_mid_stream_warns_once_and_releases_the_throttle() {
    let board = fake_board();
    board.set_temp(0, 90.0);
    let e = guard_element(&board, &[("poll-interval", "0"), ("report-interval", "0")]);
    let (mut h, bus) = harness(&e);
    h.push(frame(0)).unwrap();
    assert_eq!(e.property::<String>("state"), "throttled");
    std::fs::remove_file(board.temp_path(0)).unwrap();
    for i in 1..10 {
        h.push(frame(i)).unwrap();
    }
    // The hot zone is gone; the other one (43 °C) is all that is known now.
    assert_eq!(e.property::<String>("state"), "normal");
    let w = warnings(&bus);
    assert_eq!(
        w.iter()
            .filter(|w| w.contains("thermal_zone0/temp"))
            .count(),
        1,
        "{w:?}"
    );
}

#[test]
fn a_tegrastats_log_fills_what_sysfs_lacks_and_counts_for_the_limits() {
    use std::io::Write;
    // No thermal zones and no GPU load file: only the tegrastats log has them.
    let board = FakeBoard::new(&[], common::board::MEMINFO_HALF_FREE);
    let log = board.proc().with_file_name("tegrastats.log");
    let append = |line: &str| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    };
    append(
        "RAM 3000/3964MB SWAP 0/1982MB CPU [12%@1479,8%@1479,off,off] EMC_FREQ 0% GR3D_FREQ 10% CPU@40C GPU@41C",
    );
    let e = guard_element(
        &board,
        &[
            ("poll-interval", "0"),
            ("report-interval", "0.000001"),
            ("tegrastats-file", log.to_str().unwrap()),
        ],
    );
    assert_eq!(
        e.property::<String>("tegrastats-file"),
        log.to_str().unwrap()
    );
    let (mut h, bus) = harness(&e);
    h.push(frame(0)).unwrap();
    std::thread::sleep(Duration::from_millis(2));
    h.push(frame(1)).unwrap();
    let stats = messages(&bus, "jetsonguard-stats");
    let s = stats.last().expect("stats message");
    assert_eq!(s.get::<f64>("temperature").unwrap(), 41.0);
    assert_eq!(s.get::<f64>("gpu-percent").unwrap(), 10.0);
    // procfs's memory wins over the log's (50 %, not 76 %).
    assert_eq!(s.get::<f64>("memory-percent").unwrap(), 50.0);
    // tegrastats appends a hot line: the guard throttles on it.
    append(
        "RAM 3000/3964MB SWAP 0/1982MB CPU [12%@1479,8%@1479,off,off] EMC_FREQ 0% GR3D_FREQ 99% CPU@40C GPU@81.5C",
    );
    h.push(frame(2)).unwrap();
    assert_eq!(e.property::<String>("state"), "throttled");
    let states = messages(&bus, "jetsonguard-state");
    let reason = states[0].get::<String>("reason").unwrap();
    assert!(reason.contains("temperature 81.5"), "{reason}");
    assert!(warnings(&bus).iter().all(|w| !w.contains("tegrastats")));
}
