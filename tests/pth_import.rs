// SPDX-License-Identifier: MPL-2.0
//! trt_pose PyTorch checkpoints imported without PyTorch (`gsttrtpose::pth`). On the shared
//! checkpoints (`../shared/models/trt_pose_pth`, written by real PyTorch in both
//! serializations, float32 and float16, with and without `module.`): ONNX Runtime on the
//! import reproduces PyTorch's cmap and paf within the README's tolerance. On every
//! architecture's key layout (`keys/*.json`): detection names it and the graph runs with the
//! right output shapes. Broken and hostile checkpoints get typed errors, never a panic;
//! `trtposeconvert import` and the `.pth` cache of `resolve` work end to end.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use gsttrtpose::engine::{Engine, InputData, OutputBuffer};
use gsttrtpose::pth::{self, PthError, Shape, StateDict, pickle::DType};

fn pth_dir() -> PathBuf {
    common::shared_dir().join("models/trt_pose_pth")
}

/// The decompressed checkpoints, once per test binary, in a temporary folder.
fn checkpoint(name: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let out = dir.path().join(name);
    let _held = LOCK.lock().unwrap();
    if !out.is_file() {
        let src = pth_dir().join(format!("{name}.xz"));
        assert!(src.is_file(), "{} missing", src.display());
        let o = std::process::Command::new("xz")
            .arg("-dc")
            .arg(&src)
            .output()
            .expect("xz runs");
        assert!(o.status.success(), "xz -dc {}", src.display());
        let tmp = out.with_extension("partial");
        std::fs::write(&tmp, o.stdout).unwrap();
        std::fs::rename(&tmp, &out).unwrap();
    }
    out
}

/// A little-endian float32 `.npy`: shape and values.
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY", "{}", path.display());
    let (len, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        _ => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(&b[start..start + len]).unwrap();
    assert!(header.contains("'<f4'") && header.contains("'fortran_order': False"));
    let dims = &header[header.find("'shape': (").unwrap() + 10..];
    let dims = &dims[..dims.find(')').unwrap()];
    let shape: Vec<usize> = dims
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let data: Vec<f32> = b[start + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(data.len(), shape.iter().product::<usize>());
    (shape, data)
}

fn run_model(model: &Path, input: &[f32], shape: &[usize]) -> Vec<OutputBuffer> {
    let mut engine = common::cpu_engine(model);
    let names: Vec<String> = engine.outputs().iter().map(|o| o.name.clone()).collect();
    assert_eq!(names, ["cmap", "paf"]);
    let mut out = Vec::new();
    engine
        .run(InputData::F32(input), shape, &mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Imports `name`, runs it on the saved input and compares with PyTorch's maps.
fn matches_pytorch(name: &str, arch: &str, input: &str, dtype: DType) {
    let stem = name.trim_end_matches(".pth");
    let src = checkpoint(name);
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join(format!("{stem}.onnx"));
    let t = Instant::now();
    let report = pth::import_file(&src, &onnx, None, None).unwrap_or_else(|e| panic!("{e}"));
    let import_s = t.elapsed().as_secs_f64();
    assert_eq!(report.sidecar.architecture, arch);
    assert!(report.imported.dtypes.contains(&dtype));
    let (ishape, x) = read_npy(&pth_dir().join(input));
    assert_eq!(
        (report.sidecar.input_width, report.sidecar.input_height),
        (ishape[3] as u32, ishape[2] as u32),
        "size from the name"
    );
    let out = run_model(&onnx, &x, &ishape);
    let mut worst = 0f32;
    let mut scale = 0f32;
    for (i, map) in ["cmap", "paf"].iter().enumerate() {
        let (shape, reference) = read_npy(&pth_dir().join(format!("{stem}.{map}.npy")));
        assert_eq!(out[i].shape, shape, "{map} shape");
        for (a, b) in out[i].data.iter().zip(&reference) {
            worst = worst.max((a - b).abs());
            scale = scale.max(b.abs());
        }
    }
    eprintln!(
        "{name}: {arch}, import {import_s:.2} s, max |ours - PyTorch| = {worst:.3e}, max |PyTorch| = {scale:.3}, ratio {:.2e}",
        worst / scale
    );
    assert!(
        worst <= 2e-4 * scale,
        "{name}: max error {worst} against max |PyTorch| {scale}"
    );
}

#[test]
fn legacy_resnet18_att_matches_pytorch() {
    matches_pytorch(
        "resnet18_baseline_att_224x224_A.legacy.pth",
        "resnet18_baseline_att",
        "input_224x224.npy",
        DType::F32,
    );
}

#[test]
fn zip_dataparallel_densenet121_att_matches_pytorch() {
    matches_pytorch(
        "densenet121_baseline_att_256x256_B.zip-module.pth",
        "densenet121_baseline_att",
        "input_256x256.npy",
        DType::F32,
    );
}

#[test]
fn zip_fp16_resnet50_with_flat_layers_matches_pytorch() {
    matches_pytorch(
        "resnet50_baseline_224x224.zip-fp16-up128-flat1.pth",
        "resnet50_baseline",
        "input_224x224.npy",
        DType::F16,
    );
}

/// A state dict with the shapes of `keys/ARCH.json`, filled with small deterministic values
/// (BatchNorm variances positive), under `prefix`.
fn synthetic(keys: &serde_json::Value, prefix: &str) -> StateDict {
    let mut sd = StateDict::default();
    for (n, k) in keys.as_array().unwrap().iter().enumerate() {
        let name = k[0].as_str().unwrap();
        let shape: Vec<usize> = k[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let dtype = match k[2].as_str().unwrap() {
            "float32" => DType::F32,
            "int64" => DType::I64,
            other => panic!("dtype {other}"),
        };
        let count: usize = shape.iter().product();
        let fan_in: usize = shape.iter().skip(1).product::<usize>().max(1);
        let data = match dtype {
            DType::F32 if name.ends_with("running_var") => vec![1.0; count],
            DType::F32 => (0..count)
                .map(|i| (((i * 7919 + n * 31) % 17) as f32 - 8.0) / 8.0 / (fan_in as f32).sqrt())
                .collect(),
            _ => Vec::new(),
        };
        sd.entries.push((
            format!("{prefix}{name}"),
            pth::archive::Tensor { shape, dtype, data },
        ));
    }
    sd
}

#[test]
fn every_architecture_layout_is_detected_and_builds_a_graph_of_the_right_shapes() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(pth_dir().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len(), 22);
    let dir = tempfile::tempdir().unwrap();
    for (i, path) in names.iter().enumerate() {
        let j: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let arch = j["architecture"].as_str().unwrap();
        let prefix = ["", "module.", "model."][i % 3];
        let sd = synthetic(&j["keys"], prefix);
        let detected = pth::arch::detect(&sd);
        let a = detected.unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(a.name(), arch);
        assert_eq!(a.prefix, prefix);
        let c = &j["config"];
        assert_eq!(a.cmap_channels as u64, c["cmap_channels"].as_u64().unwrap());
        assert_eq!(a.paf_channels as u64, c["paf_channels"].as_u64().unwrap());
        assert_eq!(
            a.upsample_channels as u64,
            c["upsample_channels"].as_u64().unwrap()
        );
        assert_eq!(a.num_upsample as u64, c["num_upsample"].as_u64().unwrap());
        assert_eq!(a.num_flat as u64, c["num_flat"].as_u64().unwrap());
        let shape = Shape {
            width: 64,
            height: 96,
            batch: None,
        };
        let onnx = pth::arch::build(&sd, &a, shape).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let file = dir.path().join(format!("{arch}.onnx"));
        std::fs::write(&file, onnx).unwrap();
        let out = run_model(&file, &vec![0.5; 2 * 3 * 96 * 64], &[2, 3, 96, 64]);
        assert_eq!(out[0].shape, [2, 18, 24, 16], "{arch} cmap");
        assert_eq!(out[1].shape, [2, 42, 24, 16], "{arch} paf");
        assert!(
            out.iter().all(|o| o.data.iter().all(|v| v.is_finite())),
            "{arch}"
        );
    }
}

/// A minimal pickle writer for hand-made checkpoints.
struct Pickle(Vec<u8>);

impl Pickle {
    fn new() -> Self {
        Pickle(vec![0x80, 0x02])
    }
    fn op(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn str(mut self, s: &str) -> Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn int(mut self, v: u32) -> Self {
        self.0.push(b'J');
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn ints(mut self, v: &[u32]) -> Self {
        self = self.op(b"(");
        for &i in v {
            self = self.int(i);
        }
        self.op(b"t")
    }
    fn global(self, module: &str, name: &str) -> Self {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    fn stop(self) -> Vec<u8> {
        self.op(b".").0
    }
}

/// A legacy checkpoint of one float32 tensor `key` of `shape` whose storage holds `numel`
/// values (header pickles, the state dict, the storage keys, the raw storage).
fn legacy_one_tensor(key: &str, shape: &[u32], numel: u32) -> Vec<u8> {
    let magic = Pickle::new()
        .op(&[
            0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
        ])
        .stop();
    let proto = Pickle::new().op(&[b'M', 0xe9, 0x03]).stop();
    let info = Pickle::new()
        .op(b"}")
        .str("little_endian")
        .op(&[0x88, b's'])
        .stop();
    let mut strides = vec![1u32; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let mut p = Pickle::new()
        .global("collections", "OrderedDict")
        .op(b")R")
        .str(key)
        .global("torch._utils", "_rebuild_tensor_v2")
        .op(b"(")
        .op(b"(")
        .str("storage")
        .global("torch", "FloatStorage")
        .str("0")
        .str("cpu")
        .int(numel)
        .op(b"tQ")
        .int(0);
    p = p.ints(shape).ints(&strides);
    p = p
        .op(&[0x89])
        .global("collections", "OrderedDict")
        .op(b")R")
        .op(b"tR")
        .op(b"s");
    let dict = p.stop();
    let keys = Pickle::new().op(b"]").str("0").op(b"a").stop();
    let mut out = [magic, proto, info, dict, keys].concat();
    out.extend_from_slice(&(numel as u64).to_le_bytes());
    out.extend((0..numel).flat_map(|i| (i as f32).to_le_bytes()));
    out
}

#[test]
fn a_hand_made_legacy_checkpoint_reads_back() {
    let data = legacy_one_tensor("w", &[2, 3], 6);
    let sd = pth::archive::read(&data).unwrap_or_else(|e| panic!("{e}"));
    let t = sd.get("w").unwrap();
    assert_eq!(t.shape, [2, 3]);
    assert_eq!(t.data, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
}

fn import_err(data: &[u8]) -> PthError {
    let shape = Shape {
        width: 224,
        height: 224,
        batch: None,
    };
    match pth::import_bytes(data, shape) {
        Ok(_) => panic!("imported"),
        Err(e) => e,
    }
}

#[test]
fn broken_and_hostile_checkpoints_get_clear_errors() {
    assert!(matches!(import_err(b""), PthError::Empty));
    // Not trt_pose: the error lists what was found.
    let e = import_err(&legacy_one_tensor("fc.weight", &[2, 3], 6));
    assert!(matches!(e, PthError::NotTrtPose { .. }), "{e}");
    assert!(e.to_string().contains("1 tensors: fc.* (1)"), "{e}");
    // A tensor whose storage is shorter than it.
    let e = import_err(&legacy_one_tensor("w", &[4, 3], 6));
    assert!(
        matches!(e, PthError::StorageTooShort(ref k) if k == "w"),
        "{e}"
    );
    // A storage whose bytes end early.
    let mut short = legacy_one_tensor("w", &[2, 3], 6);
    short.truncate(short.len() - 5);
    assert!(matches!(import_err(&short), PthError::StorageTooShort(_)));
    // The classic exploit: GLOBAL os.system + REDUCE, as the state dict pickle.
    let evil = Pickle::new()
        .global("os", "system")
        .str("touch /tmp/pwned")
        .op(&[0x85])
        .op(b"R")
        .stop();
    let mut legacy = legacy_one_tensor("w", &[1], 1);
    let needle = b"\x80\x02ccollections";
    let at = legacy
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    legacy.truncate(at);
    legacy.extend(evil);
    let e = import_err(&legacy);
    assert!(
        matches!(e, PthError::ForbiddenGlobal(ref g) if g == "os.system"),
        "{e}"
    );
    assert!(e.to_string().contains("never executed"), "{e}");
    // Other callables refused too, even ones torch itself pickles (not in a state dict).
    let e = import_err(
        &Pickle::new()
            .global("builtins", "eval")
            .str("1")
            .op(&[0x85, b'R'])
            .stop(),
    );
    assert!(matches!(e, PthError::ForbiddenGlobal(_)), "{e}");
}

#[test]
fn truncated_real_checkpoints_get_errors_not_panics() {
    let legacy = std::fs::read(checkpoint("resnet18_baseline_att_224x224_A.legacy.pth")).unwrap();
    // Inside the state dict's pickle.
    let e = import_err(&legacy[..4000]);
    assert!(matches!(e, PthError::TruncatedPickle), "{e}");
    // Inside the storages.
    let e = import_err(&legacy[..legacy.len() - 1000]);
    assert!(matches!(e, PthError::StorageTooShort(_)), "{e}");
    let zip = std::fs::read(checkpoint(
        "densenet121_baseline_att_256x256_B.zip-module.pth",
    ))
    .unwrap();
    for cut in [zip.len() / 2, zip.len() - 30, 100] {
        let e = import_err(&zip[..cut]);
        assert!(matches!(e, PthError::Zip(_)), "cut {cut}: {e}");
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}

#[test]
fn resolve_imports_once_and_reuses_while_the_hash_matches() {
    let dir = tempfile::tempdir().unwrap();
    let src = checkpoint("resnet18_baseline_att_224x224_A.legacy.pth");
    let model = dir.path().join("resnet18_baseline_att_224x224_A.pth");
    std::fs::copy(&src, &model).unwrap();
    let (onnx, how) = pth::resolve(&model).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(how, pth::Resolved::Imported("resnet18_baseline_att".into()));
    assert_eq!(
        onnx,
        dir.path().join("resnet18_baseline_att_224x224_A.pth.onnx")
    );
    let sidecar = pth::ImportSidecar::load(&onnx).unwrap();
    assert_eq!(
        sidecar.source_sha256,
        gsttrtpose::convert::sha256_file(&model).unwrap()
    );
    assert_eq!((sidecar.input_width, sidecar.input_height), (224, 224));
    assert_eq!(
        pth::resolve(&model).unwrap(),
        (onnx.clone(), pth::Resolved::Cached)
    );
    // A changed checkpoint is imported again.
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&model, &bytes).unwrap();
    assert!(matches!(
        pth::resolve(&model).unwrap().1,
        pth::Resolved::Imported(_)
    ));
    // Non-checkpoints pass through.
    let plain = dir.path().join("x.onnx");
    assert_eq!(pth::resolve(&plain).unwrap(), (plain, pth::Resolved::AsIs));
}

/// Runs `desc` (ending in `appsink name=sink`) to EOS; the samples, or the error text.
fn run_pipeline(desc: &str) -> Result<Vec<gst::Sample>, String> {
    use gst::prelude::*;
    let pipeline = common::launch(desc);
    let sink: gst_app::AppSink = common::by_name(&pipeline, "sink");
    sink.set_property("sync", false);
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let mut samples = Vec::new();
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    let result = loop {
        while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(1)) {
            samples.push(s);
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) else {
            assert!(Instant::now() < deadline, "{desc}: timed out");
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(format!("{} ({})", e.error(), e.debug().unwrap_or_default()));
            }
            _ => {}
        }
    };
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::ZERO) {
        samples.push(s);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    result.map(|_| samples)
}

#[test]
fn trtposeinfer_runs_a_pth_and_finds_the_people_pytorchs_maps_give() {
    common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let model = dir
        .path()
        .join("resnet18_baseline_att_224x224_A_epoch_249.pth");
    std::fs::copy(
        checkpoint("resnet18_baseline_att_224x224_A.legacy.pth"),
        &model,
    )
    .unwrap();
    let desc = format!(
        "filesrc location={} ! pngdec ! videoconvert ! video/x-raw,format=RGB ! trtposeinfer model={} backend=cpu threads=2 ! appsink name=sink",
        common::quote(&pth_dir().join("input_224x224.png")),
        common::quote(&model),
    );
    let samples = run_pipeline(&desc).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(samples.len(), 1);
    let ours: Vec<gsttrtpose::meta::PoseRecord> =
        gsttrtpose::meta::read(samples[0].buffer().unwrap())
            .into_iter()
            .map(Result::unwrap)
            .collect();
    // The import was cached beside the checkpoint for the next start.
    let onnx = dir
        .path()
        .join("resnet18_baseline_att_224x224_A_epoch_249.pth.onnx");
    assert!(onnx.is_file() && pth::ImportSidecar::load(&onnx).is_some());
    // The same parse on PyTorch's own maps for this picture.
    use gsttrtpose::pose::trt_parse::{Layout, MapView, ParseParams, TrtPoseParser};
    let topology = gsttrtpose::pose::Topology::human_pose();
    let stem = "resnet18_baseline_att_224x224_A.legacy";
    let (cs, cmap) = read_npy(&pth_dir().join(format!("{stem}.cmap.npy")));
    let (ps, paf) = read_npy(&pth_dir().join(format!("{stem}.paf.npy")));
    let mut parser = TrtPoseParser::new(&topology, ParseParams::default()).unwrap();
    parser
        .parse(
            &MapView::new(&cmap, cs[1], cs[2], cs[3], Layout::Chw).unwrap(),
            &MapView::new(&paf, ps[1], ps[2], ps[3], Layout::Chw).unwrap(),
        )
        .unwrap();
    let mut reference = Vec::new();
    parser.people_into(&mut reference);
    eprintln!(
        "element: {} people, PyTorch maps: {} people",
        ours.len(),
        reference.len()
    );
    assert!(!reference.is_empty());
    assert_eq!(ours.len(), reference.len());
    for r in &ours {
        assert_eq!(r.topology, "human_pose");
        assert_eq!(r.person.keypoints.len(), 18);
    }
    // The same keypoints within half a pixel of the 224-pixel frame, both ways. Random
    // weights refine a few peaks off the picture, which the element leaves out.
    let inside = |&(x, y): &(f32, f32)| (0.0..=224.0).contains(&x) && (0.0..=224.0).contains(&y);
    let ours_kp: Vec<(f32, f32)> = ours
        .iter()
        .flat_map(|r| r.person.keypoints.iter().flatten().map(|k| (k.x, k.y)))
        .collect();
    let ref_kp: Vec<(f32, f32)> = reference
        .iter()
        .flat_map(|p| {
            p.keypoints
                .iter()
                .flatten()
                .map(|k| (k.x * 224.0, k.y * 224.0))
        })
        .filter(inside)
        .collect();
    let near = |set: &[(f32, f32)], (x, y): (f32, f32)| {
        set.iter()
            .any(|&(a, b)| (a - x).abs() <= 0.5 && (b - y).abs() <= 0.5)
    };
    for &k in &ref_kp {
        assert!(
            near(&ours_kp, k),
            "PyTorch's keypoint {k:?} missing from {ours_kp:?}"
        );
    }
    for &k in &ours_kp {
        assert!(
            near(&ref_kp, k),
            "keypoint {k:?} not in PyTorch's {ref_kp:?}"
        );
    }
    let checked = ref_kp.len();
    assert!(checked > 0);
}

fn trtposeconvert() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_trtposeconvert"));
    c.env("ORT_DYLIB_PATH", common::runtime().library());
    c
}

#[test]
fn trtposeconvert_imports_with_flags_converts_a_pth_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = checkpoint("densenet121_baseline_att_256x256_B.zip-module.pth");
    let out = dir.path().join("d121.onnx");
    let o = trtposeconvert()
        .arg("import")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .args(["--size", "320x192", "--batch", "2"])
        .output()
        .unwrap();
    let t = common::output_text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("architecture: densenet121_baseline_att"), "{t}");
    assert!(t.contains("keys under 'module.'"), "{t}");
    assert!(t.contains("loads as trt-pose (topology human_pose)"), "{t}");
    let s = pth::ImportSidecar::load(&out).unwrap();
    assert_eq!(
        (s.input_width, s.input_height, s.batch),
        (320, 192, Some(2))
    );
    assert_eq!(s.serialization, "zip");
    let engine = common::cpu_engine(&out);
    assert_eq!(engine.inputs()[0].shape, [2, 3, 192, 320]);
    assert_eq!(engine.outputs()[1].shape, [2, 42, 48, 80]);
    drop(engine);

    // `convert X.pth` goes through the import, then on as with any ONNX model.
    let model = dir.path().join("r18_224x224.pth");
    std::fs::copy(
        checkpoint("resnet18_baseline_att_224x224_A.legacy.pth"),
        &model,
    )
    .unwrap();
    let o = trtposeconvert()
        .arg("convert")
        .arg(&model)
        .output()
        .unwrap();
    let t = common::output_text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("imported the resnet18_baseline_att checkpoint"),
        "{t}"
    );
    assert!(t.contains("validation: passed"), "{t}");
    assert!(
        dir.path()
            .join("r18_224x224.pth_b1_cpu_fp32.onnx")
            .is_file()
    );
    let o = trtposeconvert().arg("check").arg(&model).output().unwrap();
    let t = common::output_text(&o);
    assert!(o.status.success() && t.contains("is up to date"), "{t}");

    // Bad files: a message and a failing exit, no panic.
    let empty = dir.path().join("empty.pth");
    std::fs::write(&empty, b"").unwrap();
    let half = dir.path().join("half.pth");
    std::fs::write(&half, &std::fs::read(&src).unwrap()[..1 << 20]).unwrap();
    for (file, says) in [(&empty, "empty file"), (&half, "truncated")] {
        let o = trtposeconvert().arg("import").arg(file).output().unwrap();
        let t = common::output_text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(t.contains(says) && !t.contains("panicked"), "{t}");
    }
}
