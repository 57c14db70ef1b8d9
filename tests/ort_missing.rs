// SPDX-License-Identifier: MPL-2.0
//! Without a loadable ONNX Runtime the element refuses to start and says what to install.
//! (Its own test binary: ONNX Runtime can be loaded only once per process.)

use gst::prelude::*;

#[test]
fn missing_onnx_runtime_gives_an_actionable_error() {
    gst::init().unwrap();
    gsttrtpose::plugin_register_static().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::write(&model, b"not loaded anyway").unwrap();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! trtposeinfer ort-library=/nonexistent/libonnxruntime.so model=\"{}\" ! fakesink",
        model.display()
    ))
    .unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Error])
        .expect("an error");
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    let text = e.error().to_string();
    for needle in [
        "/nonexistent/libonnxruntime.so",
        "ort-library",
        "no such file",
        "pip install onnxruntime",
        "ORT_DYLIB_PATH",
    ] {
        assert!(text.contains(needle), "'{text}' should mention '{needle}'");
    }
    pipeline.set_state(gst::State::Null).unwrap();
}
