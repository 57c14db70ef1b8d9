// SPDX-License-Identifier: MPL-2.0
//! jetsonguard's sensor-file parsers on arbitrary text: a value or "unknown", never a panic.
#![no_main]

use gsttrtpose::guard::sensors::{parse_meminfo, parse_millidegrees, parse_psi_some_avg10, parse_stat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(m) = parse_meminfo(&text) {
        if let Some(p) = m.used_percent() {
            assert!((0.0..=100.0).contains(&p));
        }
        if let Some(p) = m.swap_used_percent() {
            assert!((0.0..=100.0).contains(&p));
        }
    }
    if let Some((total, idle)) = parse_stat(&text) {
        assert!(idle <= total, "idle {idle} > total {total}");
    }
    let _ = parse_psi_some_avg10(&text);
    if let Ok(c) = parse_millidegrees(&text) {
        assert!((-50.0..=200.0).contains(&c));
    }
});
