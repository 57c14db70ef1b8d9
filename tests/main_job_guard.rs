// SPDX-License-Identifier: MPL-2.0
//! trtpose-run with jetsonguard in front of the network, on a board made of files: the
//! progress line, the final statistics, pausing while hot, --cpus and --no-guard.

mod common;

use common::board::FakeBoard;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// One thermal zone at `celsius`, 3.1 of 4.0 GB RAM and 15 % of swap in use.
fn fake_board(celsius: f32) -> FakeBoard {
    FakeBoard::new(
        &[("CPU-therm", celsius)],
        "MemTotal:        4194304 kB\nMemAvailable:     901775 kB\nSwapTotal:       1048576 kB\nSwapFree:         891289 kB\n",
    )
}

/// trtpose-run on 30 frames of the walking clip at 256, into `out`, with `extra` arguments.
fn trtpose_run(out: &Path, board: Option<&FakeBoard>, extra: &[&str]) -> (Output, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trtpose-run"));
    c.arg(common::media("vtest_walk_10s.mp4"))
        .arg("--output")
        .arg(out.join("clip_pose.mp4"))
        .arg("--model")
        .arg(common::model("movenet-multipose-256x256.onnx"))
        .args(["--input-size", "256", "--frames", "30"])
        .args(extra)
        .env("ORT_DYLIB_PATH", common::runtime().library());
    if let Some(b) = board {
        c.arg("--sysfs-root")
            .arg(b.sys())
            .arg("--procfs-root")
            .arg(b.proc());
    }
    let o = c.output().unwrap();
    let text = common::output_text(&o);
    assert!(o.status.success(), "{text}");
    (o, text)
}

/// The number after `label` on the final statistics line that starts with it.
fn stat(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no '{label}' line in:\n{text}"));
    line[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|v| v.trim_end_matches("°C").parse().ok())
        .unwrap_or_else(|| panic!("no number in '{line}'"))
}

/// Checks `Progress: 12/100 (11.0%) - FPS: 8.6 - ETA: 3.4s | CPU ? RAM 78.5% (3.1/4.0 GB)
/// SWAP 15% TEMP 52.3°C`, returning the frames done.
fn check_progress_line(line: &str, temp: &str) -> u64 {
    let (progress, sensors) = line.split_once(" | ").expect(line);
    let rest = progress.strip_prefix("Progress: ").expect(line);
    let (count, rest) = rest.split_once(' ').expect(line);
    let (done, total) = count.split_once('/').expect(line);
    let done: u64 = done.parse().expect(line);
    assert_eq!(total, "100", "{line}");
    let (percent, rest) = rest.split_once("%) - FPS: ").expect(line);
    let percent: f64 = percent.strip_prefix('(').expect(line).parse().expect(line);
    assert!((0.0..=100.0).contains(&percent), "{line}");
    let (fps, eta) = rest.split_once(" - ETA: ").expect(line);
    assert!(fps.parse::<f64>().expect(line) >= 0.0, "{line}");
    assert!(
        eta == "?" || eta.strip_suffix('s').expect(line).parse::<f64>().is_ok(),
        "{line}"
    );
    let cpu = sensors.strip_prefix("CPU ").expect(line);
    assert!(
        cpu.ends_with(&format!(" RAM 78.5% (3.1/4.0 GB) SWAP 15% TEMP {temp}°C")),
        "{line}"
    );
    done
}

fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// The JSON lines' timestamps, which are evenly spaced when no frame was dropped.
fn json_pts(out: &Path) -> Vec<f64> {
    std::fs::read_to_string(out.join("clip_pose.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["pts"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

fn assert_no_frame_lost(out: &Path, text: &str) {
    let pts = json_pts(out);
    assert!(pts.len() >= 30, "{} JSON lines\n{text}", pts.len());
    assert_eq!(pts.len() as f64, stat(text, "Frames:"), "{text}");
    // Only the first 30: on the early EOS the decoder drains frames out of order, so the
    // ones after may skip B-frames it never got, guard or not.
    let step = pts[1] - pts[0];
    assert!(
        pts[..30]
            .windows(2)
            .all(|w| (w[1] - w[0] - step).abs() < 0.002),
        "a gap in {pts:?}"
    );
}

#[test]
fn progress_line_and_final_statistics() {
    let board = fake_board(52.3);
    let out = tempfile::tempdir().unwrap();
    let (_, text) = trtpose_run(out.path(), Some(&board), &["--report-interval", "1"]);
    let progress = lines_starting(&text, "Progress: ");
    // At least the one the guard prints at the end of the stream.
    assert!(!progress.is_empty(), "{text}");
    let done: Vec<u64> = progress
        .iter()
        .map(|l| check_progress_line(l, "52.3"))
        .collect();
    assert!(*done.last().unwrap() >= 30, "{text}");
    // The guard prints the progress: no per-second line of the unguarded run.
    assert!(lines_starting(&text, "frames ").is_empty(), "{text}");
    assert!(text.contains("\nFinal statistics:\n"), "{text}");
    let frames = stat(&text, "Frames:");
    assert!(frames >= 30.0, "{text}");
    let (secs, avg) = (stat(&text, "Time:"), stat(&text, "Average FPS:"));
    assert!((avg - frames / secs).abs() < 0.2 * avg + 0.5, "{text}");
    assert!(stat(&text, "People:") > 0.0, "{text}");
    assert!(text.contains("  Backend: cpu\n"), "{text}");
    assert_eq!(stat(&text, "Max temperature:"), 52.3, "{text}");
    assert_eq!(stat(&text, "Time throttled:"), 0.0, "{text}");
    assert_eq!(stat(&text, "Time paused:"), 0.0, "{text}");
    // The peak resident memory of a process that loaded ONNX Runtime and a model.
    assert!(stat(&text, "Peak memory:") > 20.0, "{text}");
    assert!(text.contains(" MB (VmHWM)\n"), "{text}");
    // Over whole one-second windows only.
    let min_line = lines_starting(&text, "  Minimum FPS:");
    assert_eq!(min_line.len(), 1, "{text}");
    if secs >= 1.0 {
        assert!(stat(&text, "Minimum FPS:") > 0.0, "{text}");
    }
    assert_no_frame_lost(out.path(), &text);
}

/// Above the pause tier until a background thread cools the board: nothing is lost.
fn hot_run(mode: &str) {
    let board = fake_board(85.0);
    let out = tempfile::tempdir().unwrap();
    let (_, text) = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(2500));
            board.set_temp(0, 60.0);
        });
        trtpose_run(
            out.path(),
            Some(&board),
            &["--guard-mode", mode, "--report-interval", "1"],
        )
    });
    assert!(
        text.contains("guard: normal -> paused (temperature 85.0 °C ≥ 80.0 °C (pause tier))"),
        "{text}"
    );
    assert!(text.contains("guard: paused -> normal"), "{text}");
    assert!(
        lines_starting(&text, "Progress: ")
            .iter()
            .any(|l| l.ends_with("TEMP 85.0°C [PAUSED]")),
        "{text}"
    );
    assert!(stat(&text, "Time paused:") >= 1.0, "{text}");
    assert_eq!(stat(&text, "Time throttled:"), 0.0, "{text}");
    assert_eq!(stat(&text, "Max temperature:"), 85.0, "{text}");
    assert_no_frame_lost(out.path(), &text);
}

#[test]
fn a_hot_board_pauses_the_job_until_it_cools() {
    hot_run("pause");
}

#[test]
fn the_pause_tier_pauses_drop_mode_too() {
    hot_run("drop");
}

#[test]
fn cpus_pins_the_process_and_sizes_the_inference_threads() {
    let board = fake_board(52.3);
    let out = tempfile::tempdir().unwrap();
    let (_, text) = trtpose_run(out.path(), Some(&board), &["--cpus", "0"]);
    assert!(text.contains("\n  CPUs: 1 (0)\n"), "{text}");
    assert!(text.contains("\n  Inference threads: 1\n"), "{text}");
    assert!(stat(&text, "Frames:") >= 30.0, "{text}");
    // Without --cpus it keeps what it was given (the test runner's set).
    let (_, text) = trtpose_run(out.path(), Some(&board), &[]);
    assert_eq!(lines_starting(&text, "  CPUs: ").len(), 1, "{text}");
    assert!(
        text.contains("\n  Inference threads: ONNX Runtime's choice\n"),
        "{text}"
    );
    // --threads wins over --cpus.
    let (_, text) = trtpose_run(out.path(), Some(&board), &["--cpus", "0", "--threads", "2"]);
    assert!(text.contains("\n  Inference threads: 2\n"), "{text}");
    // A list it cannot parse is refused before anything runs.
    let o = Command::new(env!("CARGO_BIN_EXE_trtpose-run"))
        .arg(common::media("vtest_walk_10s.mp4"))
        .args(["--cpus", "1-0", "--output"])
        .arg(out.path().join("refused.mp4"))
        .output()
        .unwrap();
    let text = common::output_text(&o);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("--cpus: CPU range '1-0' runs backwards"),
        "{text}"
    );
}

#[test]
fn no_guard_prints_no_guard_lines() {
    let out = tempfile::tempdir().unwrap();
    let (_, text) = trtpose_run(out.path(), None, &["--no-guard"]);
    for guard_only in [
        "Progress: ",
        "guard: ",
        "Max temperature",
        "Time throttled",
        "Time paused",
    ] {
        assert!(!text.contains(guard_only), "{guard_only}: {text}");
    }
    assert!(text.contains("\nFinal statistics:\n"), "{text}");
    assert!(stat(&text, "Frames:") >= 30.0, "{text}");
    assert!(stat(&text, "Peak memory:") > 20.0, "{text}");
}
