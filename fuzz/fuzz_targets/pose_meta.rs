// SPDX-License-Identifier: MPL-2.0
//! The metadata reader poseoverlay uses, on arbitrary GstStructure text: an error or a
//! record, never a panic.
#![no_main]

use std::str::FromStr;
use std::sync::Once;

use gsttrtpose::meta::from_structure;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static INIT: Once = Once::new();
    INIT.call_once(|| gst::init().unwrap());
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(s) = gst::Structure::from_str(text)
        && let Ok(r) = from_structure(&s)
    {
        let n = r.person.keypoints.len();
        assert!(r.link_pairs.iter().all(|&(a, b)| a < n && b < n));
    }
});
