// SPDX-License-Identifier: MPL-2.0
//! INT8 calibration for TensorRT, done on the CPU with ONNX Runtime: every intermediate
//! float tensor of the model becomes an output, the model runs on calibration images, and the
//! largest magnitude seen per tensor becomes its dynamic range. The result is written in
//! TensorRT's native calibration-cache text format, which ONNX Runtime's TensorRT provider
//! reads (`trt_int8_use_native_calibration_table`) to build an INT8 engine.
//!
//! Calibrating on a workstation and building on the Jetson is the intended split: the cache
//! is small, and a Nano would take long to run hundreds of images.

use std::collections::BTreeMap;
use std::path::Path;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::engine::{EngineError, InputData, OrtRuntime};
use crate::onnx_proto::*;

/// A TensorRT calibration cache that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("empty calibration cache")]
    Empty,
    #[error("calibration cache header '{0}' does not start with TRT-")]
    Header(String),
    #[error("line {line}: expected 'tensor: hexscale'")]
    Line { line: usize },
    #[error("line {line}: '{value}' is not a hex float")]
    Hex { line: usize, value: String },
}

/// Largest absolute value per tensor over the calibration inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalibrationTable {
    pub ranges: BTreeMap<String, f32>,
    pub inputs_seen: usize,
}

/// The serialized model with every node output also listed as a graph output, and the names
/// of those outputs. ONNX Runtime infers the types of outputs declared by name only.
pub fn expose_all_tensors(model: &[u8]) -> Result<(Vec<u8>, Vec<String>), OnnxError> {
    let (mut fields, gi, mut graph) = graph_of(model)?;
    let mut listed: std::collections::HashSet<String> = graph
        .iter()
        .filter_map(|f| match f {
            Field::Bytes(GRAPH_OUTPUT, v) => parse(v).ok().and_then(|v| string(&v, VALUE_NAME)),
            _ => None,
        })
        .collect();
    let mut added = Vec::new();
    for f in &graph {
        if let Field::Bytes(GRAPH_NODE, n) = f {
            for out in strings(&parse(n)?, NODE_OUTPUT) {
                if !out.is_empty() && listed.insert(out.clone()) {
                    added.push(out);
                }
            }
        }
    }
    for name in &added {
        graph.push(Field::Bytes(
            GRAPH_OUTPUT,
            encode(&[bytes_field(VALUE_NAME, name)]),
        ));
    }
    fields[gi] = Field::Bytes(MODEL_GRAPH, encode(&graph));
    Ok((encode(&fields), added))
}

/// Runs an instrumented copy of `model` on the CPU over `inputs` and records, per float
/// tensor (the network input included), the largest magnitude seen.
pub struct Calibrator {
    session: Session,
    input_name: String,
    table: CalibrationTable,
    /// With `with_percentiles(p)`: per tensor, the sums over inputs of the low and high
    /// `p`-th percentiles, and how many inputs had it (for `quantize`'s activation ranges).
    percentile: Option<f64>,
    sums: BTreeMap<String, (f64, f64, usize)>,
}

impl Calibrator {
    pub fn new(runtime: &OrtRuntime, model: &Path) -> Result<Self, EngineError> {
        let bytes = std::fs::read(model).map_err(|e| EngineError::Model {
            path: model.display().to_string(),
            problem: e.to_string(),
        })?;
        let (instrumented, _) = expose_all_tensors(&bytes).map_err(|e| EngineError::Model {
            path: model.display().to_string(),
            problem: e.to_string(),
        })?;
        // No graph optimization: fused nodes would drop the tensors TensorRT will name.
        let session = Session::builder(runtime.environment())
            .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Disable)?))
            .and_then(|mut b| b.commit_from_memory(&instrumented))
            .map_err(|e| EngineError::Model {
                path: model.display().to_string(),
                problem: format!("ONNX Runtime cannot load the instrumented model: {e}"),
            })?;
        let input_name = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| EngineError::Model {
                path: model.display().to_string(),
                problem: "model has no input".into(),
            })?;
        Ok(Calibrator {
            session,
            input_name,
            table: CalibrationTable::default(),
            percentile: None,
            sums: BTreeMap::new(),
        })
    }

    /// Also records each tensor's low and high `p`-th percentiles per input (say 99.99):
    /// ranges that ignore the rare outliers a maximum would stretch the int8 scale for.
    pub fn with_percentiles(mut self, p: f64) -> Self {
        self.percentile = Some(p);
        self
    }

    /// Mean over the inputs of each tensor's percentile range (see `with_percentiles`).
    pub fn ranges(&self) -> crate::quantize::Ranges {
        self.sums
            .iter()
            .map(|(name, &(lo, hi, n))| {
                let n = n.max(1) as f64;
                (name.clone(), ((lo / n) as f32, (hi / n) as f32))
            })
            .collect()
    }

    /// Adds one network input (already pre-processed like the element does).
    pub fn add(&mut self, input: InputData, shape: &[usize]) -> Result<(), EngineError> {
        let fail = |e: ort::Error| EngineError::Inference(e.to_string());
        let name = self.input_name.clone();
        let outputs = match input {
            InputData::F32(d) => {
                observe(&mut self.table, &mut self.sums, self.percentile, &name, d);
                let t = TensorRef::from_array_view((shape.to_vec(), d)).map_err(fail)?;
                self.session
                    .run(ort::inputs![name.as_str() => t])
                    .map_err(fail)?
            }
            InputData::I32(d) => {
                let t = TensorRef::from_array_view((shape.to_vec(), d)).map_err(fail)?;
                self.session
                    .run(ort::inputs![name.as_str() => t])
                    .map_err(fail)?
            }
        };
        for (name, value) in outputs.iter() {
            // Integer tensors (shapes, indices) are not quantized.
            if let Ok((_, data)) = value.try_extract_tensor::<f32>() {
                observe(&mut self.table, &mut self.sums, self.percentile, name, data);
            }
        }
        self.table.inputs_seen += 1;
        Ok(())
    }

    pub fn finish(self) -> CalibrationTable {
        self.table
    }
}

/// Records one tensor's values of one input: its largest finite magnitude, and with
/// `percentile` its low and high percentiles.
fn observe(
    table: &mut CalibrationTable,
    sums: &mut BTreeMap<String, (f64, f64, usize)>,
    percentile: Option<f64>,
    name: &str,
    data: &[f32],
) {
    let v = data
        .iter()
        .filter(|x| x.is_finite())
        .fold(0f32, |m, x| m.max(x.abs()));
    let e = table.ranges.entry(name.to_string()).or_insert(0.0);
    *e = e.max(v);
    if let Some((lo, hi)) = percentile.and_then(|p| crate::quantize::percentiles(data, p)) {
        let s = sums.entry(name.to_string()).or_insert((0.0, 0.0, 0));
        *s = (s.0 + lo as f64, s.1 + hi as f64, s.2 + 1);
    }
}

impl CalibrationTable {
    /// TensorRT's calibration cache: a header line, then `tensor: scale` with the scale
    /// (dynamic range / 127) as the hex bits of a float32. Tensors that were always zero get
    /// no line, so TensorRT keeps them in higher precision.
    pub fn to_tensorrt_cache(&self, tensorrt_version: &str) -> String {
        let mut out = format!("TRT-{tensorrt_version}-MaxAbsCalibration\n");
        for (name, &range) in &self.ranges {
            if range > 0.0 {
                out.push_str(&format!("{name}: {:08x}\n", (range / 127.0).to_bits()));
            }
        }
        out
    }

    /// Reads a cache back: tensor names and dynamic ranges (scale × 127).
    pub fn parse_tensorrt_cache(text: &str) -> Result<BTreeMap<String, f32>, CacheError> {
        let mut lines = text.lines();
        let header = lines.next().ok_or(CacheError::Empty)?;
        if !header.starts_with("TRT-") {
            return Err(CacheError::Header(header.to_string()));
        }
        let mut ranges = BTreeMap::new();
        for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let (name, hex) = line
                .rsplit_once(": ")
                .ok_or(CacheError::Line { line: i + 2 })?;
            let bits = u32::from_str_radix(hex.trim(), 16).map_err(|_| CacheError::Hex {
                line: i + 2,
                value: hex.to_string(),
            })?;
            ranges.insert(name.to_string(), f32::from_bits(bits) * 127.0);
        }
        Ok(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trips() {
        let mut t = CalibrationTable::default();
        t.ranges.insert("input".into(), 2.5);
        t.ranges.insert("conv/out:0".into(), 117.0);
        t.ranges.insert("dead".into(), 0.0);
        let text = t.to_tensorrt_cache("10300");
        assert!(text.starts_with("TRT-10300-"));
        assert!(!text.contains("dead"), "all-zero tensors get no range");
        let back = CalibrationTable::parse_tensorrt_cache(&text).unwrap();
        assert_eq!(back.len(), 2);
        for (k, v) in back {
            assert!((v - t.ranges[&k]).abs() <= t.ranges[&k] * 1e-6, "{k}");
        }
        assert!(CalibrationTable::parse_tensorrt_cache("x\n").is_err());
        assert!(CalibrationTable::parse_tensorrt_cache("TRT-1-X\na: zz\n").is_err());
    }
}
