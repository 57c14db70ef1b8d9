// SPDX-License-Identifier: MPL-2.0
//! The GPU path as far as a machine without a GPU can take it: the pre-processing kernel
//! compiles with NVIDIA's real compiler, the CUDA backend names what is missing, batches give
//! the people of single frames, and a backend failing mid-stream hands over to the CPU
//! without losing the frame.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gsttrtpose::engine::{
    Backend, BackendRequest, Engine, EngineError, EngineOptions, InputData, OrtEngine,
    OutputBuffer, TensorSpec,
};
use gsttrtpose::frame::PixelFormat;
use gsttrtpose::frame::SourceFrame;
use gsttrtpose::model::{EstimatorConfig, PoseEstimator};
use gsttrtpose::pose::Person;

#[test]
fn preprocess_kernel_compiles_with_nvrtc_without_fma() {
    let expected = std::env::var_os("TRTPOSE_EXPECT_NVRTC").is_some();
    match gsttrtpose::engine::cuda::compile_preprocess() {
        Ok(ptx) => {
            let src = ptx.to_src();
            assert!(
                src.contains(".entry trtpose_preprocess"),
                "kernel entry missing"
            );
            // Contracted multiply-adds would round differently from the CPU path.
            assert!(
                !src.contains("fma.rn.f32"),
                "FMA contraction was not disabled"
            );
            assert!(src.contains("mul.rn.f32") && src.contains("add.rn.f32"));
        }
        Err(e) => {
            assert!(
                !expected,
                "scripts/test.sh found NVRTC but compiling failed: {e}"
            );
            assert_eq!(e, gsttrtpose::engine::cuda::CudaError::NoNvrtc);
            assert!(
                e.to_string().contains("libnvrtc"),
                "the error names the library: {e}"
            );
        }
    }
}

#[test]
fn cuda_backend_names_the_missing_driver() {
    let opts = EngineOptions {
        backend: BackendRequest::Cuda,
        ..Default::default()
    };
    let err = OrtEngine::load_on(
        common::runtime(),
        &common::model("movenet-multipose-256x256.onnx"),
        &opts,
        Backend::Cuda,
    )
    .unwrap_err();
    match err {
        EngineError::BackendUnavailable { backend, reason } => {
            assert_eq!(backend, Backend::Cuda);
            assert!(reason.contains("libcuda.so.1"), "{reason}");
        }
        other => panic!("expected BackendUnavailable, got {other}"),
    }
    assert!(gsttrtpose::engine::cuda::probe(0).is_err());
}

fn photo(name: &str) -> (usize, usize, Vec<u8>) {
    common::load_png_rgb(&common::media(name))
}

fn frame(w: usize, h: usize, rgb: &[u8]) -> SourceFrame<'_> {
    SourceFrame::new(PixelFormat::Rgb, w, h, vec![(rgb, w * 3)]).unwrap()
}

fn estimator(model: &Path) -> PoseEstimator {
    PoseEstimator::new(
        Box::new(common::cpu_engine(model)),
        &EstimatorConfig::default(),
    )
    .unwrap()
}

#[test]
fn batched_frames_give_the_people_of_single_frames() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("rn18_dyn.onnx");
    common::generate_model(
        &[
            "resnet18",
            "--size",
            "224",
            "--batch",
            "0",
            "--cmap-std",
            "0.02",
        ],
        &model,
    );
    let (aw, ah, a) = photo("astronaut.png");
    let (bw, bh, b) = photo("basketball1.png");
    let (fa, fb) = (frame(aw, ah, &a), frame(bw, bh, &b));
    let mut est = estimator(&model);
    let mut singles = Vec::new();
    for f in [&fa, &fb, &fa] {
        let mut people = Vec::new();
        est.process(f, &mut people).unwrap();
        singles.push(people);
    }
    assert!(
        singles.iter().any(|p| !p.is_empty()),
        "the photos give people"
    );
    let mut batched = vec![Vec::new(); 3];
    est.process_batch(&[&fa, &fb, &fa], &mut batched).unwrap();
    assert_eq!(est.last_outputs()[0].shape[0], 3, "one run for the batch");
    for (i, (s, b)) in singles.iter().zip(&batched).enumerate() {
        assert_eq!(s.len(), b.len(), "frame {i}: people count");
        for (p, q) in s.iter().zip(b) {
            assert!((p.score - q.score).abs() < 1e-4, "frame {i}: score");
            for (x, y) in p.keypoints.iter().zip(&q.keypoints) {
                match (x, y) {
                    (Some(x), Some(y)) => {
                        assert!((x.x - y.x).abs() < 0.05 && (x.y - y.y).abs() < 0.05)
                    }
                    (None, None) => {}
                    _ => panic!("frame {i}: keypoint sets differ"),
                }
            }
        }
    }
}

/// A real CPU engine that reports itself as CUDA and fails its `fail_at`-th run with the
/// error a GPU gives when its memory runs out: the fault is injected, the engine is real.
struct FailingGpu {
    inner: OrtEngine,
    runs: Arc<AtomicUsize>,
    fail_at: usize,
}

impl Engine for FailingGpu {
    fn backend(&self) -> Backend {
        Backend::Cuda
    }
    fn inputs(&self) -> &[TensorSpec] {
        self.inner.inputs()
    }
    fn outputs(&self) -> &[TensorSpec] {
        self.inner.outputs()
    }
    fn run(
        &mut self,
        input: InputData,
        shape: &[usize],
        outputs: &mut Vec<OutputBuffer>,
    ) -> Result<(), EngineError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        if n == self.fail_at {
            outputs.clear();
            return Err(EngineError::Device(
                "CUDA inference failed: CUDA failure 2: out of memory".into(),
            ));
        }
        self.inner.run(input, shape, outputs)
    }
}

fn people_json(people: &[Person]) -> String {
    format!("{people:?}")
}

#[test]
fn a_backend_failing_mid_stream_hands_over_to_the_cpu_and_reruns_the_frame() {
    let model: PathBuf = common::model("movenet-multipose-256x256.onnx");
    let photos = [
        photo("astronaut.png"),
        photo("basketball1.png"),
        photo("astronaut.png"),
    ];
    let frames: Vec<SourceFrame> = photos.iter().map(|(w, h, d)| frame(*w, *h, d)).collect();
    let mut reference = estimator(&model);
    let expected: Vec<String> = frames
        .iter()
        .map(|f| {
            let mut p = Vec::new();
            reference.process(f, &mut p).unwrap();
            people_json(&p)
        })
        .collect();

    let runs = Arc::new(AtomicUsize::new(0));
    let gpu = FailingGpu {
        inner: common::cpu_engine(&model),
        runs: runs.clone(),
        fail_at: 1,
    };
    let mut est = PoseEstimator::new(Box::new(gpu), &EstimatorConfig::default()).unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let (m, l) = (model.clone(), loads.clone());
    est.set_fallback(Box::new(move || {
        l.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(common::cpu_engine(&m)) as Box<dyn Engine>)
    }));
    let mut got = Vec::new();
    let mut switches = Vec::new();
    for f in &frames {
        let mut p = Vec::new();
        est.process(f, &mut p).unwrap();
        got.push(people_json(&p));
        switches.extend(est.take_failover());
    }
    assert_eq!(
        got, expected,
        "every frame has its people, the failed one too"
    );
    assert_eq!(switches.len(), 1, "one switch");
    assert_eq!(switches[0].from, Backend::Cuda);
    assert_eq!(switches[0].to, Backend::Cpu);
    assert!(switches[0].reason.contains("out of memory"));
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(est.backend(), Backend::Cpu);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the failing engine is not used after the switch"
    );
}

#[test]
fn without_a_fallback_a_gpu_failure_is_an_error() {
    let model = common::model("movenet-multipose-256x256.onnx");
    let gpu = FailingGpu {
        inner: common::cpu_engine(&model),
        runs: Arc::new(AtomicUsize::new(0)),
        fail_at: 0,
    };
    let mut est = PoseEstimator::new(Box::new(gpu), &EstimatorConfig::default()).unwrap();
    let (w, h, d) = photo("astronaut.png");
    let err = est.process(&frame(w, h, &d), &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("out of memory"), "{err}");
    assert!(est.take_failover().is_none());
}

#[test]
fn static_inputs_are_read_from_the_model_file() {
    use gsttrtpose::onnx_proto::first_input_dims;
    let dims = |p: &Path| first_input_dims(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(
        dims(&common::model("movenet-multipose-256x256.onnx")),
        vec![Some(1), Some(256), Some(256), Some(3)]
    );
    assert_eq!(
        dims(&common::model("movenet-multipose.onnx")),
        vec![Some(1), None, None, Some(3)],
        "dynamic input: no CUDA graph"
    );
    let dir = tempfile::tempdir().unwrap();
    let dynamic = dir.path().join("dyn.onnx");
    common::generate_model(&["resnet18", "--size", "64", "--batch", "0"], &dynamic);
    assert_eq!(dims(&dynamic), vec![None, Some(3), Some(64), Some(64)]);
    assert!(first_input_dims(b"garbage").is_err());
}
