// SPDX-License-Identifier: MPL-2.0
//! The `.pth` reader on arbitrary bytes: the restricted unpickler (one pickle and the legacy
//! sequence), the zip and legacy readers, and, for whatever reads as a state dict, architecture
//! detection and the ONNX graph. An error or a result, never a panic or an execution.
#![no_main]

use gsttrtpose::pth::{self, Shape, pickle::Unpickler};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unpickler::new(data);
    while u.load().is_ok() && u.position() < data.len() {}
    if let Ok(sd) = pth::archive::read(data)
        && let Ok(arch) = pth::arch::detect(&sd)
    {
        let shape = Shape {
            width: 64,
            height: 64,
            batch: None,
        };
        if let Ok(onnx) = pth::arch::build(&sd, &arch, shape) {
            gsttrtpose::onnx_proto::graph_of(&onnx).expect("the imported model parses");
        }
    }
});
