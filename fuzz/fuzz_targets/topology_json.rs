// SPDX-License-Identifier: MPL-2.0
//! Topology loader on arbitrary bytes: an error or a valid topology, never a panic.
#![no_main]

use gsttrtpose::pose::Topology;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = Topology::from_json_bytes(data, "fuzz", "fuzz") {
        assert!(!t.keypoints.is_empty() && !t.links.is_empty());
        assert!(t.links.iter().all(|&(a, b)| a < t.num_parts() && b < t.num_parts()));
        // What loads must survive a round trip.
        let back = Topology::from_json_bytes(t.to_json().as_bytes(), "fuzz", "fuzz").unwrap();
        assert_eq!(back.links, t.links);
    }
});
