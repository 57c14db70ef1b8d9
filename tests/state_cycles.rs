// SPDX-License-Identifier: MPL-2.0
//! Memory over 100 NULL → PLAYING → NULL cycles with every element. Its own test binary, so
//! the process's RSS belongs to this test alone.

mod common;

use gst::prelude::*;

use common::rss_kb;

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
    // RSS is noisy even after trimming (it settles near one of two levels about 12 MB apart,
    // and can switch mid-run), but a leak lifts every later reading: the lowest reading of
    // cycles 80-99 must stay below the highest of cycles 20-39 plus a margin.
    let mut rss = Vec::new();
    for cycle in 0..100 {
        let (errors, _) = common::play_to_eos(&p);
        assert!(errors.is_empty(), "cycle {cycle}: {errors:?}");
        // Return freed heap first, so RSS follows live memory rather than allocator caching.
        gsttrtpose::guard::trim_heap();
        rss.push(rss_kb());
    }
    let early_max = rss[20..40].iter().max().copied().unwrap();
    let late_min = rss[80..100].iter().min().copied().unwrap();
    let late_max = rss[80..100].iter().max().copied().unwrap();
    eprintln!(
        "RSS cycles 20-39 max {early_max} kB; cycles 80-99 min {late_min} kB, max {late_max} kB"
    );
    assert!(
        late_min < early_max + 8 * 1024,
        "RSS rose from at most {early_max} kB to at least {late_min} kB"
    );
}
