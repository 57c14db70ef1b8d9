// SPDX-License-Identifier: MPL-2.0
//! RSS over repeated NULL → PLAYING → NULL cycles of a launch line (for leak hunting).
//! usage: state_cycles "LAUNCH LINE" [cycles]
use gst::prelude::*;

#[path = "../tests/common/mod.rs"]
mod common;
use common::rss_kb;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cycles: usize = args.get(2).map_or(100, |s| s.parse().unwrap());
    gst::init().unwrap();
    gsttrtpose::plugin_register_static().unwrap();
    let p = gst::parse::launch(&args[1]).unwrap();
    for c in 0..cycles {
        p.set_state(gst::State::Playing).unwrap();
        let bus = p.bus().unwrap();
        let m = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(60),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .unwrap();
        if let gst::MessageView::Error(e) = m.view() {
            panic!("{}", e.error());
        }
        p.set_state(gst::State::Null).unwrap();
        if c % 20 == 19 {
            println!("cycle {:4}: RSS {} kB", c + 1, rss_kb());
        }
    }
}
