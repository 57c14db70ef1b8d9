//! Memory over 100 NULL → PLAYING → NULL cycles with every element. Its own test binary, so
//! the process's RSS belongs to this test alone.

mod common;

use gst::prelude::*;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

#[test]
fn hundred_state_cycles_with_every_element_keep_memory_flat() {
    common::runtime();
    gst::init().unwrap();
    gsttrtpose::plugin_register_static().unwrap();
    let p: gst::Pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,width=160,height=120 ! jetsonguard poll-interval=0 ! trtposeinfer model=\"{}\" ! poseoverlay ! fakesink",
        common::model("movenet-multipose-256x256.onnx").display()
    ))
    .unwrap()
    .downcast()
    .unwrap();
    // RSS swings by tens of MB as each session's buffers come and go, so compare the peak of
    // cycles 20-39 with the peak of cycles 80-99: a leak lifts the later peak.
    let mut rss = Vec::new();
    for cycle in 0..100 {
        let errors = play_to_eos(&p);
        assert!(errors.is_empty(), "cycle {cycle}: {errors:?}");
        // Return freed heap first, so RSS follows live memory rather than allocator caching.
        gsttrtpose::guard::trim_heap();
        rss.push(rss_kb());
    }
    let early = rss[20..40].iter().max().copied().unwrap();
    let late = rss[80..100].iter().max().copied().unwrap();
    eprintln!("peak RSS in cycles 20-39: {early} kB, in cycles 80-99: {late} kB");
    assert!(
        late < early + 8 * 1024,
        "peak RSS grew from {early} kB to {late} kB"
    );
}

fn play_to_eos(p: &gst::Pipeline) -> Vec<String> {
    let _ = p.set_state(gst::State::Playing);
    let bus = p.bus().unwrap();
    let mut errors = Vec::new();
    loop {
        let msg = bus
            .timed_pop(gst::ClockTime::from_seconds(120))
            .expect("no hang");
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                errors.push(e.error().to_string());
                break;
            }
            _ => {}
        }
    }
    p.set_state(gst::State::Null).unwrap();
    errors
}
