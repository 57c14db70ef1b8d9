//! RSS over repeated NULL → PLAYING → NULL cycles of a launch line (for leak hunting).
//! usage: state_cycles "LAUNCH LINE" [cycles]
use gst::prelude::*;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

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
