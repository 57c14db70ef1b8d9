// SPDX-License-Identifier: MPL-2.0
//! INT8 for the CPU: rewrites a float model into ONNX's QDQ form, which ONNX Runtime runs
//! with integer convolutions (QLinearConv; VNNI where the CPU has it).
//!
//! Convolution weights become int8 per output channel (symmetric), their biases int32 at the
//! product of the input and weight scales, and the activations around each quantized
//! convolution uint8 with the ranges measured by calibration on frames prepared as the
//! element prepares them. Convolutions closest to the outputs (the heads, `float_tail`
//! layers deep) stay float: their errors reach the keypoints undamped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::half::tensor_floats;
use crate::onnx_proto::*;

const INT8: u64 = 3;
const UINT8: u64 = 2;
const INT32: u64 = 6;
const TENSOR_DIMS: u64 = 1;
const NODE_NAME: u64 = 3;
const ATTR_TYPE: u64 = 20;
const ATTR_TYPE_INT: u64 = 2;
const MODEL_OPSET: u64 = 8;
const OPSET_VERSION: u64 = 2;
const OPSET_DOMAIN: u64 = 1;

/// Where the int8 copy of `model` goes: `MODEL.int8.onnx` beside it (what `precision=int8`
/// loads on the CPU).
pub fn int8_path(model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    model.with_file_name(format!("{stem}.int8.onnx"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeOptions {
    /// Convolutions this many layers from an output (1 = the last of each head; counted
    /// on the shortest path) stay float.
    pub float_tail: usize,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions { float_tail: 10 }
    }
}

/// What the rewrite did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuantizeReport {
    pub convs_quantized: usize,
    /// Kept float: near an output, or an input without a calibrated range.
    pub convs_float: usize,
    pub activations: usize,
}

/// Activation ranges `(low, high)` per tensor name, from calibration.
pub type Ranges = BTreeMap<String, (f32, f32)>;

struct Node {
    fields: Vec<Field>,
    op: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

impl Node {
    fn parse(bytes: &[u8]) -> Result<Node, OnnxError> {
        let fields = parse(bytes)?;
        Ok(Node {
            op: string(&fields, NODE_OP_TYPE).unwrap_or_default(),
            inputs: strings(&fields, NODE_INPUT),
            outputs: strings(&fields, NODE_OUTPUT),
            fields,
        })
    }

    fn encode(&self) -> Vec<u8> {
        // Inputs are rewritten from `self.inputs`; everything else stays as read.
        let mut fields: Vec<Field> = self
            .inputs
            .iter()
            .map(|i| bytes_field(NODE_INPUT, i))
            .collect();
        fields.extend(
            self.fields
                .iter()
                .filter(|f| f.number() != NODE_INPUT)
                .cloned(),
        );
        encode(&fields)
    }
}

fn new_node(op: &str, name: &str, inputs: &[&str], output: &str, axis: Option<i64>) -> Vec<u8> {
    let mut fields: Vec<Field> = inputs.iter().map(|i| bytes_field(NODE_INPUT, i)).collect();
    fields.push(bytes_field(NODE_OUTPUT, output));
    fields.push(bytes_field(NODE_NAME, name));
    fields.push(bytes_field(NODE_OP_TYPE, op));
    if let Some(axis) = axis {
        let attr = encode(&[
            bytes_field(ATTR_NAME, "axis"),
            Field::Varint(ATTR_I, axis as u64),
            Field::Varint(ATTR_TYPE, ATTR_TYPE_INT),
        ]);
        fields.push(Field::Bytes(NODE_ATTRIBUTE, attr));
    }
    encode(&fields)
}

fn tensor(name: &str, data_type: u64, dims: &[usize], raw: Vec<u8>) -> Vec<u8> {
    let mut fields: Vec<Field> = dims
        .iter()
        .map(|&d| Field::Varint(TENSOR_DIMS, d as u64))
        .collect();
    fields.push(Field::Varint(TENSOR_DATA_TYPE, data_type));
    fields.push(bytes_field(TENSOR_NAME, name));
    fields.push(Field::Bytes(TENSOR_RAW_DATA, raw));
    encode(&fields)
}

fn floats_raw(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// uint8 scale and zero point covering `(low, high)` and zero.
fn activation_params(low: f32, high: f32) -> Option<(f32, u8)> {
    let (low, high) = (low.min(0.0), high.max(0.0));
    let scale = (high - low) / 255.0;
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    let zp = (-low / scale).round().clamp(0.0, 255.0) as u8;
    Some((scale, zp))
}

/// Rewrites `model` with int8 convolutions; `ranges` come from calibration.
pub fn quantize(
    model: &[u8],
    ranges: &Ranges,
    options: &QuantizeOptions,
) -> Result<(Vec<u8>, QuantizeReport), OnnxError> {
    let (mut fields, gi, graph) = graph_of(model)?;
    let opset = fields
        .iter()
        .filter_map(|f| match f {
            Field::Bytes(MODEL_OPSET, b) => parse(b).ok(),
            _ => None,
        })
        .filter(|o| string(o, OPSET_DOMAIN).unwrap_or_default().is_empty())
        .find_map(|o| varint(&o, OPSET_VERSION))
        .unwrap_or(0);
    if opset < 13 {
        return Err(OnnxError::Unsupported(format!(
            "opset {opset}: per-channel int8 needs opset 13 or newer (re-export the model)"
        )));
    }
    let mut nodes = Vec::new();
    let mut inits: HashMap<String, Vec<Field>> = HashMap::new();
    let mut graph_outputs = HashSet::new();
    let mut rest = Vec::new();
    for f in &graph {
        match f {
            Field::Bytes(GRAPH_NODE, b) => nodes.push(Node::parse(b)?),
            Field::Bytes(GRAPH_INITIALIZER, b) => {
                let t = parse(b)?;
                inits.insert(string(&t, TENSOR_NAME).unwrap_or_default(), t);
            }
            Field::Bytes(GRAPH_OUTPUT, b) => {
                if let Some(n) = string(&parse(b)?, VALUE_NAME) {
                    graph_outputs.insert(n);
                }
                rest.push(f.clone());
            }
            _ => rest.push(f.clone()),
        }
    }
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for input in &n.inputs {
            consumers.entry(input.as_str()).or_default().push(i);
        }
    }
    // Convolutions between each node's output and a graph output, on the shortest path, in
    // reverse order (nodes are topologically sorted). On MoveNet this kept the accuracy the
    // longest path lost at the same speed; residual shortcuts skip convolutions, so ResNets
    // want a smaller `float_tail`.
    let mut tail: Vec<Option<usize>> = vec![None; nodes.len()];
    for i in (0..nodes.len()).rev() {
        let mut best: Option<usize> = None;
        for out in &nodes[i].outputs {
            if graph_outputs.contains(out) {
                best = Some(0);
            }
            for &c in consumers.get(out.as_str()).map_or(&[][..], |v| v) {
                best = match (best, tail[c]) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        tail[i] = best.map(|b| b + usize::from(is_conv(&nodes[i].op)));
    }
    let weights = |n: &Node| -> Option<(Vec<usize>, Vec<f32>)> {
        let t = inits.get(n.inputs.get(1)?)?;
        if varint(t, TENSOR_DATA_TYPE) != Some(FLOAT) {
            return None;
        }
        let dims: Vec<usize> = t
            .iter()
            .filter_map(|f| match f {
                Field::Varint(TENSOR_DIMS, d) => Some(*d as usize),
                _ => None,
            })
            .collect();
        let values = tensor_floats(t).ok()?;
        (dims.len() == 4 && dims.iter().product::<usize>() == values.len())
            .then_some((dims, values))
    };
    // The tensor after a conv's activation, when the conv feeds nothing else.
    let activated = |out: &str| -> String {
        match consumers.get(out).map(Vec::as_slice) {
            Some([c]) if matches!(nodes[*c].op.as_str(), "Relu" | "Clip") => {
                nodes[*c].outputs[0].clone()
            }
            _ => out.to_string(),
        }
    };
    let mut report = QuantizeReport::default();
    // Each quantized conv: its node, its activation input and its float weights.
    let mut quantized: Vec<(usize, String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut wrap: BTreeMap<String, (f32, u8)> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        // ONNX Runtime's CPU has no integer ConvTranspose: quantizing one only adds work.
        if n.op != "Conv" {
            continue;
        }
        let x = n.inputs.first().cloned().unwrap_or_default();
        let y = activated(n.outputs.first().map_or("", |s| s.as_str()));
        let params = |t: &str| {
            ranges
                .get(t)
                .and_then(|&(lo, hi)| activation_params(lo, hi))
        };
        let near_output = tail[i].is_none_or(|t| t <= options.float_tail);
        match (near_output, weights(n), params(&x), params(&y)) {
            (false, Some((dims, w)), Some(px), Some(py)) => {
                wrap.insert(x.clone(), px);
                wrap.insert(y, py);
                quantized.push((i, x, dims, w));
            }
            _ => report.convs_float += 1,
        }
    }
    report.convs_quantized = quantized.len();
    report.activations = wrap.len();

    let mut new_inits: Vec<Vec<u8>> = Vec::new();
    // Q/DQ pairs go right after the node making the tensor (or first, for graph inputs).
    let mut after: HashMap<usize, Vec<Vec<u8>>> = HashMap::new();
    // A conv's weight and bias DQ nodes go just before it.
    let mut before: HashMap<usize, Vec<Vec<u8>>> = HashMap::new();
    let mut first: Vec<Vec<u8>> = Vec::new();
    let producer: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let mut renamed: HashMap<String, String> = HashMap::new();
    for (k, (t, &(scale, zp))) in wrap.iter().enumerate() {
        let base = format!("qdq{k}");
        let (s, z, q, dq) = (
            format!("{base}_scale"),
            format!("{base}_zp"),
            format!("{base}_q"),
            format!("{t}_dq{k}"),
        );
        new_inits.push(tensor(&s, FLOAT, &[], floats_raw(&[scale])));
        new_inits.push(tensor(&z, UINT8, &[], vec![zp]));
        let pair = vec![
            new_node(
                "QuantizeLinear",
                &format!("{base}_Q"),
                &[t, &s, &z],
                &q,
                None,
            ),
            new_node(
                "DequantizeLinear",
                &format!("{base}_DQ"),
                &[&q, &s, &z],
                &dq,
                None,
            ),
        ];
        match producer.get(t.as_str()) {
            Some(&p) => after.entry(p).or_default().extend(pair),
            None => first.extend(pair),
        }
        renamed.insert(t.clone(), dq);
    }
    // Every consumer reads the quantized tensor; graph outputs keep the float one.
    for n in nodes.iter_mut() {
        for input in n.inputs.iter_mut() {
            if let Some(dq) = renamed.get(input) {
                *input = dq.clone();
            }
        }
    }
    // Weights (per output channel, symmetric int8) and biases (int32).
    for (k, (i, x, dims, w)) in quantized.into_iter().enumerate() {
        let m = dims[0];
        let per = w.len() / m.max(1);
        let scales: Vec<f32> = w
            .chunks_exact(per)
            .map(|c| {
                let a = c.iter().fold(0f32, |a, v| a.max(v.abs()));
                if a > 0.0 { a / 127.0 } else { 1.0 }
            })
            .collect();
        let q: Vec<u8> = w
            .chunks_exact(per)
            .zip(&scales)
            .flat_map(|(c, s)| {
                c.iter()
                    .map(move |v| (v / s).round().clamp(-127.0, 127.0) as i8 as u8)
            })
            .collect();
        let base = format!("qw{k}");
        let (wq, ws, wz, wdq) = (
            format!("{base}_q"),
            format!("{base}_scale"),
            format!("{base}_zp"),
            format!("{base}_dq"),
        );
        new_inits.push(tensor(&wq, INT8, &dims, q));
        new_inits.push(tensor(&ws, FLOAT, &[m], floats_raw(&scales)));
        new_inits.push(tensor(&wz, INT8, &[m], vec![0; m]));
        before.entry(i).or_default().push(new_node(
            "DequantizeLinear",
            &format!("{base}_DQ"),
            &[&wq, &ws, &wz],
            &wdq,
            Some(0),
        ));
        let x_scale = wrap[&x].0;
        let mut inputs = nodes[i].inputs.clone();
        inputs[1] = wdq;
        if let Some(b) = inputs.get(2).and_then(|b| inits.get(b)) {
            let bias = tensor_floats(b)?;
            if bias.len() == m {
                let bs: Vec<f32> = scales.iter().map(|s| s * x_scale).collect();
                let bq: Vec<u8> = bias
                    .iter()
                    .zip(&bs)
                    .flat_map(|(v, s)| {
                        ((v / s).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32)
                            .to_le_bytes()
                    })
                    .collect();
                let (bqn, bsn, bzn, bdq) = (
                    format!("qb{k}_q"),
                    format!("qb{k}_scale"),
                    format!("qb{k}_zp"),
                    format!("qb{k}_dq"),
                );
                new_inits.push(tensor(&bqn, INT32, &[m], bq));
                new_inits.push(tensor(&bsn, FLOAT, &[m], floats_raw(&bs)));
                new_inits.push(tensor(&bzn, INT32, &[m], vec![0; 4 * m]));
                before.entry(i).or_default().push(new_node(
                    "DequantizeLinear",
                    &format!("qb{k}_DQ"),
                    &[&bqn, &bsn, &bzn],
                    &bdq,
                    Some(0),
                ));
                inputs[2] = bdq;
            }
        }
        nodes[i].inputs = inputs;
    }
    // Initializers nothing reads any more (the float weights) are dropped.
    let used: HashSet<&str> = nodes
        .iter()
        .flat_map(|n| n.inputs.iter().map(String::as_str))
        .collect();
    let mut out_graph: Vec<Field> = Vec::new();
    for b in &first {
        out_graph.push(Field::Bytes(GRAPH_NODE, b.clone()));
    }
    for (i, n) in nodes.iter().enumerate() {
        for b in before.get(&i).into_iter().flatten() {
            out_graph.push(Field::Bytes(GRAPH_NODE, b.clone()));
        }
        out_graph.push(Field::Bytes(GRAPH_NODE, n.encode()));
        for b in after.get(&i).into_iter().flatten() {
            out_graph.push(Field::Bytes(GRAPH_NODE, b.clone()));
        }
    }
    for f in &graph {
        if let Field::Bytes(GRAPH_INITIALIZER, b) = f {
            let t = parse(b)?;
            let name = string(&t, TENSOR_NAME).unwrap_or_default();
            if used.contains(name.as_str()) || graph_input_named(&rest, &name) {
                out_graph.push(f.clone());
            }
        }
    }
    for b in new_inits {
        out_graph.push(Field::Bytes(GRAPH_INITIALIZER, b));
    }
    out_graph.extend(rest);
    fields[gi] = Field::Bytes(MODEL_GRAPH, encode(&out_graph));
    Ok((encode(&fields), report))
}

/// Layers counted by `float_tail`.
fn is_conv(op: &str) -> bool {
    matches!(op, "Conv" | "ConvTranspose")
}

/// Whether an initializer is also declared as a graph input (then it stays).
fn graph_input_named(rest: &[Field], name: &str) -> bool {
    rest.iter().any(|f| match f {
        Field::Bytes(GRAPH_INPUT, b) => {
            parse(b)
                .ok()
                .and_then(|v| string(&v, VALUE_NAME))
                .as_deref()
                == Some(name)
        }
        _ => false,
    })
}

/// Low and high percentiles of `values` (finite ones), `p` in percent (e.g. 99.99).
pub fn percentiles(values: &[f32], p: f64) -> Option<(f32, f32)> {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    let hi_i = (((p / 100.0) * (n - 1) as f64).round() as usize).min(n - 1);
    let lo_i = (n - 1) - hi_i;
    let (_, hi, _) = v.select_nth_unstable_by(hi_i, f32::total_cmp);
    let hi = *hi;
    let (_, lo, _) = v.select_nth_unstable_by(lo_i, f32::total_cmp);
    Some((*lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_params_cover_zero_and_the_range() {
        let (s, z) = activation_params(0.0, 6.0).unwrap();
        assert!((s - 6.0 / 255.0).abs() < 1e-7);
        assert_eq!(z, 0);
        let (s, z) = activation_params(-1.0, 1.0).unwrap();
        assert!((s - 2.0 / 255.0).abs() < 1e-7);
        assert!((127..=128).contains(&z), "{z}");
        assert!(activation_params(0.0, 0.0).is_none());
    }

    #[test]
    fn percentiles_cut_the_outliers() {
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        v.push(1000.0);
        v.push(-1000.0);
        let (lo, hi) = percentiles(&v, 99.9).unwrap();
        assert!(hi < 1.0 && hi > 0.99, "{hi}");
        assert!((0.0..0.01).contains(&lo), "{lo}");
        assert_eq!(percentiles(&[f32::NAN], 99.9), None);
    }

    #[test]
    fn int8_copy_sits_beside_the_model() {
        assert_eq!(
            int8_path(Path::new("/m/movenet.onnx")),
            Path::new("/m/movenet.int8.onnx")
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(quantize(b"\xff\xff", &Ranges::new(), &QuantizeOptions::default()).is_err());
    }
}
