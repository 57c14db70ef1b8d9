// SPDX-License-Identifier: MPL-2.0
//! Accuracy benchmark on the COCO development photos (`../shared/accuracy`, or
//! `TRTPOSE_ACCURACY`): OKS AP of MoveNet multipose at input-size 512 (min-person-score 0)
//! through the two ways users feed JPEGs to `trtposeinfer`:
//!
//! - I420: `filesrc ! jpegdec ! videoconvert ! trtposeinfer` (full-range I420 straight from
//!   the decoder, the path that lost accuracy before colorimetry was honoured);
//! - RGB: the same with `videoconvert ! video/x-raw,format=RGB` in front.
//!
//! Prints both APs and their difference (target: within 0.003 of each other, both at least
//! 0.319). Scoring uses the set's `score.py` (pycocotools, installed into `.venv` if missing).
//! Run: `cargo bench --bench accuracy` (about 3 minutes on 2 cores).

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../tests/common/mod.rs"]
mod common;

fn run_path(images: &[PathBuf], model: &Path, caps: &str, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    for img in images {
        let stem = img.file_stem().unwrap().to_string_lossy();
        let json = out.join(format!("{stem}.jsonl"));
        let p = common::launch(&format!(
            "filesrc location={} ! jpegdec ! videoconvert ! {caps} trtposeinfer model={} input-size=512 \
             min-person-score=0 json-output={} ! fakesink",
            common::quote(img),
            common::quote(model),
            common::quote(&json)
        ));
        let (errors, _) = common::play_to_eos(&p);
        assert!(errors.is_empty(), "{}: {errors:?}", img.display());
    }
}

fn score(python: &Path, scorer: &Path, pred: &Path) -> f64 {
    let summary = pred.with_extension("summary.json");
    let o = Command::new(python)
        .arg(scorer)
        .arg(pred)
        .arg("--json-summary")
        .arg(&summary)
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "score.py failed: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let last = text
        .lines()
        .rfind(|l| l.starts_with("OKS AP"))
        .expect("an OKS AP line");
    println!("  {last}");
    common::read_json(&summary)["AP"]
        .as_f64()
        .expect("AP in the summary")
}

fn main() {
    // `cargo bench` passes --bench; no other options.
    common::runtime();
    let set = std::env::var_os("TRTPOSE_ACCURACY")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::shared_dir().join("accuracy"));
    let mut images: Vec<PathBuf> = std::fs::read_dir(set.join("images"))
        .unwrap_or_else(|e| panic!("{}: {e}", set.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    images.sort();
    let python = common::manifest_dir().join(".venv/bin/python");
    let has_coco = Command::new(&python)
        .args(["-c", "import pycocotools"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_coco {
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "pycocotools"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install pycocotools failed");
    }
    let model = common::model("movenet-multipose.onnx");
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{} COCO photos, {}, input-size 512, min-person-score 0",
        images.len(),
        model.display()
    );
    let mut ap = Vec::new();
    for (name, caps) in [
        ("I420 (full range, from jpegdec)", ""),
        ("RGB (videoconvert in front)", "video/x-raw,format=RGB !"),
    ] {
        let out = dir
            .path()
            .join(if caps.is_empty() { "i420" } else { "rgb" });
        let start = std::time::Instant::now();
        run_path(&images, &model, caps, &out);
        println!("{name}: {:.0} s", start.elapsed().as_secs_f64());
        ap.push(score(&python, &set.join("score.py"), &out));
    }
    println!(
        "RESULT ap_i420={:.4} ap_rgb={:.4} difference={:.4} (target <= 0.003, both >= 0.319)",
        ap[0],
        ap[1],
        (ap[0] - ap[1]).abs()
    );
}
