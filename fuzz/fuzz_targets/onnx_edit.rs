// SPDX-License-Identifier: MPL-2.0
//! The ONNX editors (fp16 copy, calibration instrumentation) on arbitrary bytes: an edited
//! model that parses again, or an error, never a panic. Seeded with a small real model.
#![no_main]

use gsttrtpose::{calibrate, half, onnx_proto};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((out, _)) = half::to_half(data) {
        onnx_proto::parse(&out).expect("the fp16 copy parses");
    }
    if let Ok((out, added)) = calibrate::expose_all_tensors(data) {
        let (_, _, graph) = onnx_proto::graph_of(&out).expect("the instrumented model parses");
        let outputs = graph
            .iter()
            .filter(|f| f.number() == onnx_proto::GRAPH_OUTPUT)
            .count();
        assert!(outputs >= added.len());
    }
});
