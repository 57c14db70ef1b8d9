// SPDX-License-Identifier: MPL-2.0
//! posepublish in real pipelines against a real broker (mosquitto, started per test on a free
//! loopback port): every frame arrives once and in order; a broker killed and restarted
//! mid-stream loses nothing; wrong passwords, unknown hosts and untrusted certificates are
//! errors that name the cause; drop-oldest counts exactly and block holds the video without
//! losing a frame; EOS waits for acknowledgements; QoS 0 and 2 work too; JSON Lines files
//! round-trip; the video passes untouched; passwords never show.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::mosquitto::{self, Broker, Subscriber};
use gst::prelude::*;
use gsttrtpose::meta;
use gsttrtpose::pose::{Keypoint, Person, Topology};
use serde_json::Value;

const W: u32 = 64;
const H: u32 = 48;

/// appsrc ! posepublish ! fakesink, with `props` on posepublish.
fn pipeline(props: &str) -> (gst::Pipeline, gst_app::AppSrc) {
    let p = common::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=GRAY8,width={W},height={H},framerate=30/1 \
         ! posepublish name=pub stats-interval=0 {props} ! fakesink sync=false"
    ));
    let src = common::by_name::<gst_app::AppSrc>(&p, "src");
    (p, src)
}

fn person(i: u64) -> Person {
    let topo = Topology::coco17();
    let mut p = Person {
        keypoints: (0..17)
            .map(|c| {
                Some(Keypoint {
                    x: 10.0 + c as f32 + (i % 7) as f32,
                    y: 5.0 + c as f32,
                    score: 0.9,
                })
            })
            .collect(),
        score: 0.8,
        ..Default::default()
    };
    p.update_links(&topo);
    p.update_bbox(0.0);
    p
}

fn push(src: &gst_app::AppSrc, frames: std::ops::Range<u64>) {
    for i in frames {
        let mut b = gst::Buffer::with_size((W * H) as usize).unwrap();
        {
            let b = b.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(i * 33));
            let people = [person(i), person(i + 1)];
            meta::attach(b, &people, &Topology::coco17(), false, W, H);
        }
        src.push_buffer(b).unwrap();
    }
}

/// What the bus said by EOS (or the first error): errors and warnings as `message | debug`,
/// and the posepublish summary.
#[derive(Default)]
struct Outcome {
    errors: Vec<String>,
    warnings: Vec<String>,
    summary: Option<gst::Structure>,
    /// Periodic statistics messages seen.
    stats: usize,
    texts: Vec<String>,
}

fn run_to_end(p: &gst::Pipeline, timeout: Duration) -> Outcome {
    let bus = p.bus().unwrap();
    let mut o = Outcome::default();
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            panic!("no EOS or error within {timeout:?}");
        };
        o.texts.push(format!("{msg:?}"));
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                o.errors
                    .push(format!("{} | {}", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            gst::MessageView::Warning(w) => {
                o.warnings
                    .push(format!("{} | {}", w.error(), w.debug().unwrap_or_default()))
            }
            gst::MessageView::Element(_) => {
                if let Some(s) = msg.structure()
                    && s.name() == "posepublish"
                    && s.get::<&str>("event") == Ok("eos")
                {
                    o.summary = Some(s.to_owned());
                } else if let Some(s) = msg.structure()
                    && s.name() == "posepublish"
                {
                    assert_eq!(s.get::<&str>("event"), Ok("stats"), "{s}");
                    for f in ["sent", "queued", "dropped", "reconnects", "duplicates"] {
                        assert!(s.get::<u64>(f).is_ok(), "{f} in {s}");
                    }
                    o.stats += 1;
                }
            }
            _ => {}
        }
    }
    p.set_state(gst::State::Null).unwrap();
    o
}

fn stat(s: &gst::Structure, name: &str) -> u64 {
    s.get::<u64>(name)
        .unwrap_or_else(|e| panic!("{name}: {e} in {s}"))
}

/// The frame numbers, in arrival order.
fn frames(msgs: &[Value]) -> Vec<u64> {
    msgs.iter().map(|m| m["frame"].as_u64().unwrap()).collect()
}

#[test]
fn properties_are_documented_and_the_password_never_reads_back() {
    let (e, _bus) = common::harness::element_with_bus("posepublish");
    common::harness::assert_values_are_declared_defaults(&e);
    for p in common::harness::own_pspecs(&e) {
        assert!(
            !p.nick().is_empty() && p.blurb().is_some_and(|b| b.len() > 20),
            "{} undocumented",
            p.name()
        );
    }
    use common::harness::assert_numeric;
    assert_numeric(&e, "mqtt-qos", 1.0, 0.0, 2.0);
    assert_numeric(&e, "max-queue", 1000.0, 1.0, 1e7);
    assert_numeric(&e, "eos-timeout", 10_000.0, 0.0, 3.6e6);
    assert_numeric(&e, "stats-interval", 5000.0, 0.0, 3.6e6);
    assert_eq!(common::harness::enum_nick(&e, "overflow"), "drop-oldest");
    e.set_property("location", "mqtt://camera:hunter2@broker.lan/poses");
    assert_eq!(
        e.property::<String>("location"),
        "mqtt://camera:***@broker.lan:1883/poses"
    );
    e.set_property("location", "mqtt://camera:hunter2@broker.lan:bad/poses");
    let shown = e.property::<String>("location");
    assert!(
        !shown.contains("hunter2") && shown.contains("port"),
        "{shown}"
    );
}

#[test]
fn file_output_round_trips_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("poses.jsonl");
    for (append, total) in [(false, 10), (true, 20)] {
        let (p, src) = pipeline(&format!(
            "location=file://{} append={append} stream=cam7",
            path.display()
        ));
        p.set_state(gst::State::Playing).unwrap();
        push(&src, 0..10);
        src.end_of_stream().unwrap();
        let o = run_to_end(&p, Duration::from_secs(20));
        assert!(o.errors.is_empty(), "{:?}", o.errors);
        assert_eq!(stat(o.summary.as_ref().unwrap(), "sent"), 10);
        let lines: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), total);
        let last = &lines[total - 1];
        assert_eq!(last["stream"], "cam7");
        assert_eq!(last["frame"], 9);
        assert_eq!(last["pts"], 0.297);
        assert_eq!(
            (last["width"].as_u64(), last["height"].as_u64()),
            (Some(64), Some(48))
        );
        assert_eq!(last["topology"], "coco17");
        assert!(last["timestamp"].as_f64().unwrap() > 1.7e9);
        let people = last["people"].as_array().unwrap();
        assert_eq!(people.len(), 2);
        // The schema of json-output: named keypoints, links as pairs; no track_id untracked.
        let want = person(9);
        assert_eq!(people[0]["keypoints"].as_array().unwrap().len(), 17);
        assert_eq!(people[0]["keypoints"][0]["name"], "nose");
        assert_eq!(
            people[0]["keypoints"][3]["x"].as_f64().unwrap(),
            want.keypoints[3].unwrap().x as f64
        );
        assert_eq!(
            people[0]["links"].as_array().unwrap().len(),
            want.links.len()
        );
        assert!(people[0].get("track_id").is_none());
    }
}

#[test]
fn a_hundred_frames_arrive_as_a_hundred_messages_in_order_and_the_password_never_shows() {
    // Everything posepublish logs, to look for the password.
    let log = Arc::new(Mutex::new(String::new()));
    common::init_gst();
    gst::log::set_threshold_for_name("posepublish", gst::DebugLevel::Log);
    // Captured, not printed.
    gst::log::remove_default_log_function();
    let sink = log.clone();
    gst::log::add_log_function(move |cat, _, _, _, _, _, msg| {
        if cat.name() == "posepublish" {
            let mut l = sink.lock().unwrap();
            l.push_str(&msg.get().map(|m| m.to_string()).unwrap_or_default());
            l.push('\n');
        }
    });
    let broker = Broker::start();
    let sub = Subscriber::new(broker.port, "poses/cam1");
    let (p, src) = pipeline(&format!(
        "location={} stream=cam1 stats-interval=1",
        broker.url("poses/cam1")
    ));
    p.set_state(gst::State::Playing).unwrap();
    let start = Instant::now();
    push(&src, 0..100);
    src.end_of_stream().unwrap();
    let o = run_to_end(&p, Duration::from_secs(30));
    let took = start.elapsed();
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let s = o.summary.expect("EOS summary");
    assert_eq!(
        (stat(&s, "sent"), stat(&s, "queued"), stat(&s, "dropped")),
        (100, 0, 0),
        "{s}"
    );
    assert_eq!(stat(&s, "frames"), 100);
    assert!(o.stats > 0, "periodic posepublish stats messages");
    let msgs = sub.wait_for(100, Duration::from_secs(10));
    assert_eq!(frames(&msgs), (0..100).collect::<Vec<_>>());
    assert_eq!(msgs[0]["stream"], "cam1");
    assert_eq!(msgs[0]["people"].as_array().unwrap().len(), 2);
    eprintln!(
        "100 messages in {took:?} ({:.0}/s), EOS wait {} us",
        100.0 / took.as_secs_f64(),
        stat(&s, "eos-wait-us")
    );
    let log = log.lock().unwrap();
    assert!(
        log.contains("camera:***@127.0.0.1"),
        "the location is logged, redacted"
    );
    for text in o.texts.iter().chain([&*log]) {
        assert!(!text.contains(mosquitto::PASSWORD), "password in {text}");
    }
}

#[test]
fn a_broker_killed_and_restarted_mid_stream_loses_nothing() {
    let mut broker = Broker::start();
    let sub = Subscriber::new(broker.port, "poses");
    // The subscriber's session must survive the kill for it to get what is sent meanwhile.
    broker.save();
    let (p, src) = pipeline(&format!(
        "location={} reconnect-delay=50 reconnect-delay-max=200",
        broker.url("poses")
    ));
    p.set_state(gst::State::Playing).unwrap();
    push(&src, 0..40);
    assert_eq!(sub.wait_for(40, Duration::from_secs(10)).len(), 40);
    broker.kill();
    // Sent while the broker is gone: queued, and resent from the queue after the restart.
    push(&src, 40..70);
    std::thread::sleep(Duration::from_millis(300));
    broker.restart();
    push(&src, 70..100);
    src.end_of_stream().unwrap();
    let o = run_to_end(&p, Duration::from_secs(30));
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let s = o.summary.expect("EOS summary");
    assert_eq!((stat(&s, "sent"), stat(&s, "queued")), (100, 0), "{s}");
    assert!(stat(&s, "reconnects") >= 1, "{s}");
    assert!(
        o.warnings.iter().any(|w| w.contains("Lost the connection")),
        "{:?}",
        o.warnings
    );
    let got = frames(&sub.wait_for(100, Duration::from_secs(10)));
    let mut unique = got.clone();
    unique.dedup();
    let mut sorted = unique.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>(), "all frames: {got:?}");
    // Only messages sent again may come twice, and they are counted.
    let extra = (got.len() - sorted.len()) as u64;
    assert!(extra <= stat(&s, "duplicates"), "{extra} extra, {s}");
    eprintln!("after the restart: {s}");
}

#[test]
fn a_wrong_password_is_a_pipeline_error_naming_the_cause() {
    let broker = Broker::start();
    let url = broker.url("t").replace(mosquitto::PASSWORD, "wrong-one");
    let (p, src) = pipeline(&format!("location={url}"));
    p.set_state(gst::State::Playing).unwrap();
    push(&src, 0..5);
    src.end_of_stream().unwrap();
    let o = run_to_end(&p, Duration::from_secs(20));
    assert_eq!(o.errors.len(), 1, "{:?}", o.errors);
    // mosquitto answers "not authorized" to MQTT 3.1.1 clients with a wrong password.
    assert!(
        o.errors[0].contains("MQTT broker refused the connection: not authorized")
            || o.errors[0]
                .contains("MQTT broker refused the connection: bad user name or password"),
        "{}",
        o.errors[0]
    );
    assert!(!o.errors[0].contains("wrong-one"), "{}", o.errors[0]);
}

#[test]
fn the_password_can_come_from_a_file_or_the_environment_instead_of_the_uri() {
    let broker = Broker::start();
    let pw = broker.dir.path().join("mqtt-password");
    std::fs::write(&pw, format!("{}\n", mosquitto::PASSWORD)).unwrap();
    let sub = Subscriber::new(broker.port, "t");
    let url = format!("mqtt://{}@127.0.0.1:{}/t", mosquitto::USER, broker.port);
    let (p, src) = pipeline(&format!("location={url} password-file={}", pw.display()));
    p.set_state(gst::State::Playing).unwrap();
    push(&src, 0..3);
    src.end_of_stream().unwrap();
    let o = run_to_end(&p, Duration::from_secs(20));
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    assert_eq!(sub.wait_for(3, Duration::from_secs(5)).len(), 3);
    // An unset variable is named at start.
    let (p, _src) = pipeline(&format!(
        "location={url} password-env=TRTPOSE_TEST_NO_SUCH_VARIABLE"
    ));
    let _ = p.set_state(gst::State::Playing);
    let o = run_to_end(&p, Duration::from_secs(10));
    assert!(
        o.errors[0].contains("TRTPOSE_TEST_NO_SUCH_VARIABLE is not set"),
        "{:?}",
        o.errors
    );
}

#[test]
fn an_unknown_host_is_an_error() {
    let (p, src) = pipeline("location=mqtt://no-such-broker.invalid/t");
    p.set_state(gst::State::Playing).unwrap();
    push(&src, 0..3);
    src.end_of_stream().unwrap();
    let o = run_to_end(&p, Duration::from_secs(30));
    assert!(
        o.errors
            .first()
            .is_some_and(|e| e.contains("Unknown MQTT broker host 'no-such-broker.invalid'")),
        "{:?}",
        o.errors
    );
}

fn tls_run(broker: &Broker, ca: &Path, extra: &str) -> (Outcome, Vec<Value>) {
    let sub = Subscriber::new(broker.port, "tls");
    let url = format!(
        "mqtts://{}:{}@127.0.0.1:{}/tls",
        mosquitto::USER,
        mosquitto::PASSWORD,
        broker.tls_port.unwrap()
    );
    let (p, src) = pipeline(&format!("location={url} ca-file={} {extra}", ca.display()));
    let _ = p.set_state(gst::State::Playing);
    push(&src, 0..10);
    src.end_of_stream().unwrap();
    let o = run_to_end(&p, Duration::from_secs(20));
    let got = sub.wait_for(
        if o.errors.is_empty() { 10 } else { 0 },
        Duration::from_secs(5),
    );
    (o, got)
}

#[test]
fn tls_with_the_test_ca_works_and_a_wrong_ca_fails_clearly() {
    let (broker, certs) = Broker::start_tls(|d| mosquitto::make_certs(d, "right"), false);
    let (o, got) = tls_run(&broker, &certs.ca, "");
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    assert_eq!(frames(&got), (0..10).collect::<Vec<_>>());
    assert_eq!(stat(o.summary.as_ref().unwrap(), "sent"), 10);

    let other = mosquitto::make_certs(broker.dir.path(), "other");
    let (o, got) = tls_run(&broker, &other.ca, "");
    assert!(got.is_empty());
    assert_eq!(o.errors.len(), 1, "{:?}", o.errors);
    assert!(
        o.errors[0].contains("TLS handshake with the MQTT broker failed")
            && o.errors[0].contains("UnknownIssuer"),
        "{}",
        o.errors[0]
    );
}

#[test]
fn queue_overflow_with_drop_oldest_reports_exactly_how_many_were_dropped() {
    // No broker yet: everything queues; 50 frames into a queue of 10 drop 40, the oldest.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("mqtt://127.0.0.1:{port}/t");
    let (p, src) = pipeline(&format!(
        "location={url} max-queue=10 eos-timeout=200 reconnect-delay=20 reconnect-delay-max=50"
    ));
    p.set_state(gst::State::Playing).unwrap();
    push(&src, 0..50);
    src.end_of_stream().unwrap();
    let o = run_to_end(&p, Duration::from_secs(20));
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let s = o.summary.expect("EOS summary");
    assert_eq!(
        (stat(&s, "dropped"), stat(&s, "queued"), stat(&s, "sent")),
        (40, 10, 0),
        "{s}"
    );
    let drop_warnings = o
        .warnings
        .iter()
        .filter(|w| w.contains("queue full"))
        .count();
    assert_eq!(drop_warnings, 1, "warned once: {:?}", o.warnings);
    assert!(
        o.warnings
            .iter()
            .any(|w| w.contains("10 messages not acknowledged")),
        "{:?}",
        o.warnings
    );
}

#[test]
fn eos_waits_for_the_acknowledgements() {
    // The broker comes up only after EOS: EOS must wait for it and for every PUBACK.
    let mut broker = Broker::start();
    let sub = Subscriber::new(broker.port, "late");
    broker.save();
    broker.kill();
    let (p, src) = pipeline(&format!(
        "location={} reconnect-delay=50 reconnect-delay-max=100 eos-timeout=20000",
        broker.url("late")
    ));
    // When EOS reaches posepublish (the probe runs before the element sees it).
    let eos_in = Arc::new(Mutex::new(None::<Instant>));
    let e = eos_in.clone();
    p.by_name("pub")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && ev.type_() == gst::EventType::Eos
            {
                *e.lock().unwrap() = Some(Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
    p.set_state(gst::State::Playing).unwrap();
    push(&src, 0..20);
    src.end_of_stream().unwrap();
    let eos = eos_in.clone();
    let restart = std::thread::spawn(move || {
        while eos.lock().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(500));
        broker.restart();
        broker
    });
    let o = run_to_end(&p, Duration::from_secs(30));
    let waited = eos_in.lock().unwrap().unwrap().elapsed();
    let _broker = restart.join().unwrap();
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let s = o.summary.expect("EOS summary");
    assert_eq!((stat(&s, "sent"), stat(&s, "queued")), (20, 0), "{s}");
    assert!(waited >= Duration::from_millis(500), "EOS after {waited:?}");
    assert!(stat(&s, "eos-wait-us") >= 500_000, "{s}");
    assert_eq!(
        frames(&sub.wait_for(20, Duration::from_secs(10))),
        (0..20).collect::<Vec<_>>()
    );
}

#[test]
fn trtposeinfer_results_reach_the_broker() {
    let broker = Broker::start();
    let sub = Subscriber::new(broker.port, "infer");
    let desc = format!(
        "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=320,height=240 \
         ! trtposeinfer model={} backend=cpu ! posetracker ! posepublish location={} ! fakesink sync=false",
        common::quote(&common::media("vtest_walk_10s.webm")),
        common::quote(&common::model("movenet-multipose-256x256.onnx")),
        broker.url("infer")
    );
    let _ = common::runtime();
    let p = common::launch(&desc);
    p.set_state(gst::State::Playing).unwrap();
    let o = run_to_end(&p, Duration::from_secs(120));
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let n = stat(o.summary.as_ref().unwrap(), "sent") as usize;
    assert!(n > 0);
    let msgs = sub.wait_for(n, Duration::from_secs(10));
    assert_eq!(frames(&msgs), (0..n as u64).collect::<Vec<_>>());
    assert!(
        msgs.iter()
            .all(|m| m["topology"] == "coco17" || m["people"].as_array().unwrap().is_empty())
    );
    let with_people: Vec<&Value> = msgs
        .iter()
        .filter(|m| !m["people"].as_array().unwrap().is_empty())
        .collect();
    assert!(
        with_people.len() > n / 2,
        "{} of {n} frames with people",
        with_people.len()
    );
    // After posetracker every person has a track_id field (null until confirmed).
    assert!(
        with_people
            .iter()
            .all(|m| m["people"][0].get("track_id").is_some())
    );
}

#[test]
fn qos_0_and_2_deliver_every_frame_too() {
    let broker = Broker::start();
    for qos in [0, 2] {
        let topic = format!("qos{qos}");
        let sub = Subscriber::new(broker.port, &topic);
        let (p, src) = pipeline(&format!("location={} mqtt-qos={qos}", broker.url(&topic)));
        p.set_state(gst::State::Playing).unwrap();
        push(&src, 0..20);
        src.end_of_stream().unwrap();
        let o = run_to_end(&p, Duration::from_secs(20));
        assert!(o.errors.is_empty(), "{:?}", o.errors);
        let s = o.summary.expect("EOS summary");
        assert_eq!(
            (stat(&s, "sent"), stat(&s, "queued")),
            (20, 0),
            "QoS {qos}: {s}"
        );
        let got = frames(&sub.wait_for(20, Duration::from_secs(10)));
        assert_eq!(got, (0..20).collect::<Vec<_>>(), "QoS {qos}");
    }
}

/// Buffers that left posepublish's source pad so far.
fn passed(p: &gst::Pipeline) -> Arc<std::sync::atomic::AtomicU64> {
    let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let e = p.by_name("pub").unwrap();
    let n2 = n.clone();
    e.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            n2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
    n
}

#[test]
fn overflow_block_makes_the_video_wait_and_loses_nothing() {
    let mut broker = Broker::start();
    let sub = Subscriber::new(broker.port, "block");
    broker.save();
    broker.kill();
    let (p, src) = pipeline(&format!(
        "location={} max-queue=5 overflow=block reconnect-delay=50 reconnect-delay-max=100",
        broker.url("block")
    ));
    let n = passed(&p);
    p.set_state(gst::State::Playing).unwrap();
    push(&src, 0..20);
    src.end_of_stream().unwrap();
    // Five frames fill the queue; the sixth waits in posepublish, and so does the video.
    let start = Instant::now();
    while n.load(std::sync::atomic::Ordering::SeqCst) < 5 && start.elapsed().as_secs() < 10 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 5);
    broker.restart();
    let o = run_to_end(&p, Duration::from_secs(20));
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let s = o.summary.expect("EOS summary");
    assert_eq!(
        (stat(&s, "sent"), stat(&s, "dropped"), stat(&s, "queued")),
        (20, 0, 0),
        "{s}"
    );
    assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 20);
    let got = frames(&sub.wait_for(20, Duration::from_secs(10)));
    assert_eq!(got, (0..20).collect::<Vec<_>>());

    // Stopping while blocked on a broker that is gone does not hang.
    broker.kill();
    let (p, src) = pipeline(&format!(
        "location={} max-queue=2 overflow=block",
        broker.url("block")
    ));
    p.set_state(gst::State::Playing).unwrap();
    push(&src, 0..10);
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    p.set_state(gst::State::Null).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_video_passes_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _bus) = common::harness::element_with_bus("posepublish");
    e.set_property("location", dir.path().join("x.jsonl").to_str().unwrap());
    let mut h = gst_check::Harness::with_element(&e, Some("sink"), Some("src"));
    h.set_src_caps_str(&format!(
        "video/x-raw,format=GRAY8,width={W},height={H},framerate=30/1"
    ));
    let mut b = gst::Buffer::from_mut_slice(vec![7u8; (W * H) as usize]);
    meta::attach(
        b.get_mut().unwrap(),
        &[person(0)],
        &Topology::coco17(),
        false,
        W,
        H,
    );
    let out = h.push_and_pull(b.clone()).unwrap();
    assert_eq!(out.as_ptr(), b.as_ptr(), "the same buffer, not a copy");
    assert_eq!(meta::read(&out).len(), 1);
}

#[test]
fn tls_client_certificates_for_brokers_that_require_them() {
    let (broker, c) = Broker::start_tls(|d| mosquitto::make_certs(d, "mtls"), true);
    let with = format!(
        "cert-file={} key-file={}",
        c.client_cert.display(),
        c.client_key.display()
    );
    let (o, got) = tls_run(&broker, &c.ca, &with);
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    assert_eq!(frames(&got), (0..10).collect::<Vec<_>>());

    let (o, got) = tls_run(&broker, &c.ca, "");
    assert!(got.is_empty());
    assert!(
        o.errors
            .first()
            .is_some_and(|e| e.contains("TLS handshake with the MQTT broker failed")),
        "{:?}",
        o.errors
    );
}
