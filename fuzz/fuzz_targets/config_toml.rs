// SPDX-License-Identifier: MPL-2.0
//! trtposeconvert's configuration loader on arbitrary text: a config or an error naming the
//! file, never a panic.
#![no_main]

use gsttrtpose::convert::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text, "fuzz.toml") {
        Ok(c) => {
            if let Some(i) = c.monitor_interval {
                assert!(i > 0.0 && i.is_finite());
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml")),
    }
});
