// SPDX-License-Identifier: MPL-2.0
//! Long run: see benches/soak.sh.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use gst::prelude::*;

#[path = "../tests/common/mod.rs"]
mod common;
use common::rss_kb;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let frames: u64 = args[1].parse().unwrap();
    let model = &args[2];
    gst::init().unwrap();
    gsttrtpose::plugin_register_static().unwrap();
    let p = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1 ! \
         jetsonguard cpu-limit=0 report-interval=0 ! trtposeinfer model=\"{model}\" post-messages=false ! poseoverlay ! fakesink name=sink sync=false"
    )).unwrap().downcast::<gst::Pipeline>().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    p.by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    p.set_state(gst::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let start = Instant::now();
    let (mut last_n, mut last_t, mut first_rss) = (0u64, Instant::now(), None);
    let mut guard_dropped = 0u64;
    let mut last_rss = 0u64;
    loop {
        if let Some(m) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
            match m.view() {
                gst::MessageView::Error(e) => panic!("{}", e.error()),
                gst::MessageView::Eos(_) => break,
                _ => {}
            }
            // Frames jetsonguard drops on purpose (a hot board) are not lost.
            if let Some(s) = m.structure().filter(|s| s.name() == "jetsonguard-summary") {
                guard_dropped = s.get::<u64>("frames-dropped").unwrap_or(0);
            }
            continue;
        }
        let n = count.load(Ordering::Relaxed);
        if n / 1000 > last_n / 1000 {
            let fps = (n - last_n) as f64 / last_t.elapsed().as_secs_f64();
            let rss = rss_kb();
            first_rss.get_or_insert(rss);
            last_rss = rss;
            println!(
                "frames {n:6}  {fps:6.1} FPS  RSS {:.1} MB",
                rss as f64 / 1024.0
            );
            (last_n, last_t) = (n, Instant::now());
        }
    }
    p.set_state(gst::State::Null).unwrap();
    let n = count.load(Ordering::Relaxed);
    println!(
        "done: {n}/{frames} frames reached the sink, {guard_dropped} dropped on purpose by jetsonguard, {} lost, in {:.0} s, {:.1} FPS",
        frames - n - guard_dropped,
        start.elapsed().as_secs_f64(),
        n as f64 / start.elapsed().as_secs_f64()
    );
    let first = first_rss.unwrap_or(0);
    println!(
        "RSS while streaming: {:.1} MB at 1000 frames, {:.1} MB at the last report, drift {:+.2} % (after teardown {:.1} MB)",
        first as f64 / 1024.0,
        last_rss as f64 / 1024.0,
        100.0 * (last_rss as f64 - first as f64) / first.max(1) as f64,
        rss_kb() as f64 / 1024.0
    );
}
