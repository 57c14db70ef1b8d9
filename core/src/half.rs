// SPDX-License-Identifier: MPL-2.0
//! An fp16 copy of an ONNX model for the GPU backends: float32 weights and constants become
//! float16 and the graph computes in half precision, while the model's inputs and outputs stay
//! float32 (a Cast at each end), so callers and decoders do not change.
//!
//! ONNX files are protobuf; this edits the few messages involved directly on the wire format,
//! keeping every other field byte for byte.

use crate::onnx_proto::*;

/// IEEE half precision bits of `v`, rounded to nearest even; magnitudes beyond the fp16
/// range saturate at ±65504 rather than becoming infinite (weights must stay finite).
pub fn f32_to_f16_bits(v: f32) -> u16 {
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    if v.is_nan() {
        return sign | 0x7e00;
    }
    let abs = v.abs();
    if abs >= 65504.0 {
        return sign | 0x7bff;
    }
    let exp = ((bits >> 23) & 0xff) as i32 - 127;
    let mant = bits & 0x7f_ffff;
    if exp < -25 {
        // Below half the smallest subnormal: rounds to zero.
        return sign;
    }
    if exp < -14 {
        // Subnormal: m × 2^-24 with m = 1.mant × 2^(exp + 24) = full >> (-1 - exp), rounded to
        // nearest even; m = 1024 carries into the smallest normal by itself.
        let full = mant | 0x80_0000;
        let m = round_shift(full, (-1 - exp) as u32);
        return sign | m as u16;
    }
    let half_exp = (exp + 15) as u32;
    let m = round_shift(mant | 0x80_0000, 13); // 24-bit significand to 11 bits
    // A carry out of the significand bumps the exponent, which the addition does naturally.
    let combined = (half_exp << 10) + (m - 0x400);
    sign | combined as u16
}

/// `value >> shift`, rounded to nearest, ties to even.
fn round_shift(value: u32, shift: u32) -> u32 {
    if shift == 0 {
        return value;
    }
    if shift >= 32 {
        return 0;
    }
    let q = value >> shift;
    let rem = value & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

/// Float values of a FLOAT tensor (from `float_data` or `raw_data`).
pub(crate) fn tensor_floats(fields: &[Field]) -> Result<Vec<f32>, OnnxError> {
    let mut values = Vec::new();
    for f in fields {
        match f {
            Field::Bytes(TENSOR_RAW_DATA, b) => {
                if b.len() % 4 != 0 {
                    return Err(OnnxError::Unsupported(
                        "raw_data is not a whole number of floats".into(),
                    ));
                }
                values.extend(
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            }
            // Packed repeated float.
            Field::Bytes(TENSOR_FLOAT_DATA, b) => values.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            Field::Fixed32(TENSOR_FLOAT_DATA, c) => values.push(f32::from_le_bytes(*c)),
            _ => {}
        }
    }
    Ok(values)
}

/// Rewrites a FLOAT TensorProto as FLOAT16; other tensors come back unchanged.
fn tensor_to_half(data: &[u8]) -> Result<Vec<u8>, OnnxError> {
    let fields = parse(data)?;
    if varint(&fields, TENSOR_DATA_TYPE) != Some(FLOAT) {
        return Ok(data.to_vec());
    }
    if varint(&fields, TENSOR_DATA_LOCATION) == Some(1) {
        return Err(OnnxError::Unsupported(format!(
            "tensor '{}' keeps its data in an external file; convert models with embedded weights",
            string(&fields, TENSOR_NAME).unwrap_or_default()
        )));
    }
    let values = tensor_floats(&fields)?;
    let mut raw = Vec::with_capacity(values.len() * 2);
    for v in values {
        raw.extend_from_slice(&f32_to_f16_bits(v).to_le_bytes());
    }
    let mut out: Vec<Field> = fields
        .into_iter()
        .filter(|f| !matches!(f.number(), TENSOR_FLOAT_DATA | TENSOR_RAW_DATA))
        .map(|f| match f {
            Field::Varint(TENSOR_DATA_TYPE, _) => Field::Varint(TENSOR_DATA_TYPE, FLOAT16),
            other => other,
        })
        .collect();
    out.push(Field::Bytes(TENSOR_RAW_DATA, raw));
    Ok(encode(&out))
}

/// Element type of a ValueInfoProto's tensor type.
fn value_elem_type(value_info: &[u8]) -> Result<Option<u64>, OnnxError> {
    let fields = parse(value_info)?;
    let Some(Field::Bytes(_, ty)) = fields.iter().find(|f| f.number() == VALUE_TYPE) else {
        return Ok(None);
    };
    let ty = parse(ty)?;
    let Some(Field::Bytes(_, tensor)) = ty.iter().find(|f| f.number() == TYPE_TENSOR) else {
        return Ok(None);
    };
    Ok(varint(&parse(tensor)?, TENSOR_TYPE_ELEM))
}

fn cast_node(input: &str, output: &str, to: u64) -> Field {
    let attr = encode(&[
        bytes_field(ATTR_NAME, "to"),
        Field::Varint(ATTR_I, to),
        Field::Varint(20, 2),
    ]);
    Field::Bytes(
        GRAPH_NODE,
        encode(&[
            bytes_field(NODE_INPUT, input),
            bytes_field(NODE_OUTPUT, output),
            bytes_field(3, &format!("{output}_cast")),
            bytes_field(NODE_OP_TYPE, "Cast"),
            Field::Bytes(NODE_ATTRIBUTE, attr),
        ]),
    )
}

/// Inputs that must stay float32 in fp16 graphs: `(op, input index)`.
fn keeps_float32(op: &str, index: usize) -> bool {
    matches!((op, index), ("Resize", 1 | 2) | ("Upsample", 1))
}

/// Where the fp16 copy of `model` goes: `name.onnx` → `name.fp16.onnx`.
pub fn half_path(model: &std::path::Path) -> std::path::PathBuf {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    model.with_file_name(format!("{stem}.fp16.onnx"))
}

/// What the conversion did, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HalfReport {
    pub tensors_converted: usize,
    pub tensors_kept_float32: usize,
    pub casts_added: usize,
}

/// Converts a serialized float32 ONNX model to float16 compute with float32 inputs/outputs.
pub fn to_half(model: &[u8]) -> Result<(Vec<u8>, HalfReport), OnnxError> {
    let mut report = HalfReport::default();
    let (mut model_fields, graph_index, graph) = graph_of(model)?;

    // Names of float32 graph inputs and outputs, and what must stay float32.
    let mut float_inputs = Vec::new();
    let mut float_outputs = Vec::new();
    let mut keep = std::collections::HashSet::new();
    for f in &graph {
        match f {
            Field::Bytes(GRAPH_INPUT, v) | Field::Bytes(GRAPH_OUTPUT, v)
                if value_elem_type(v)? == Some(FLOAT) =>
            {
                let name = string(&parse(v)?, VALUE_NAME).unwrap_or_default();
                if f.number() == GRAPH_INPUT {
                    float_inputs.push(name);
                } else {
                    float_outputs.push(name);
                }
            }
            Field::Bytes(GRAPH_NODE, n) => {
                let node = parse(n)?;
                let op = string(&node, NODE_OP_TYPE).unwrap_or_default();
                for (i, input) in strings(&node, NODE_INPUT).into_iter().enumerate() {
                    if keeps_float32(&op, i) {
                        keep.insert(input);
                    }
                }
            }
            _ => {}
        }
    }
    // Initializers that are also graph inputs (old exports) are overridable inputs: keep them.
    let renamed = |name: &str, list: &[String]| list.iter().any(|n| n == name);

    let mut new_graph = Vec::with_capacity(graph.len() + 4);
    for name in &float_inputs {
        new_graph.push(cast_node(name, &format!("{name}__fp16"), FLOAT16));
        report.casts_added += 1;
    }
    for f in graph {
        match f {
            Field::Bytes(GRAPH_NODE, n) => {
                let node = parse(&n)?;
                let op = string(&node, NODE_OP_TYPE).unwrap_or_default();
                let mut out = Vec::with_capacity(node.len());
                for nf in node {
                    out.push(match nf {
                        Field::Bytes(NODE_INPUT, ref b) => {
                            let s = String::from_utf8_lossy(b).into_owned();
                            if renamed(&s, &float_inputs) {
                                bytes_field(NODE_INPUT, &format!("{s}__fp16"))
                            } else {
                                nf
                            }
                        }
                        Field::Bytes(NODE_OUTPUT, ref b) => {
                            let s = String::from_utf8_lossy(b).into_owned();
                            if renamed(&s, &float_outputs) {
                                bytes_field(NODE_OUTPUT, &format!("{s}__fp16"))
                            } else {
                                nf
                            }
                        }
                        Field::Bytes(NODE_ATTRIBUTE, a) => {
                            let kept = node_outputs_kept(&n, &keep)?;
                            Field::Bytes(
                                NODE_ATTRIBUTE,
                                half_attribute(&op, &a, kept, &mut report)?,
                            )
                        }
                        other => other,
                    });
                }
                new_graph.push(Field::Bytes(GRAPH_NODE, encode(&out)));
            }
            Field::Bytes(GRAPH_INITIALIZER, t) => {
                let fields = parse(&t)?;
                let name = string(&fields, TENSOR_NAME).unwrap_or_default();
                let is_float = varint(&fields, TENSOR_DATA_TYPE) == Some(FLOAT);
                if is_float && (keep.contains(&name) || renamed(&name, &float_inputs)) {
                    report.tensors_kept_float32 += 1;
                    new_graph.push(Field::Bytes(GRAPH_INITIALIZER, t));
                } else {
                    if is_float {
                        report.tensors_converted += 1;
                    }
                    new_graph.push(Field::Bytes(GRAPH_INITIALIZER, tensor_to_half(&t)?));
                }
            }
            // Intermediate types change; ONNX Runtime infers them again.
            Field::Bytes(GRAPH_VALUE_INFO, _) => {}
            other => new_graph.push(other),
        }
    }
    // Casts back to float32 go after the nodes (before inputs/outputs is fine for protobuf,
    // but keeping nodes together keeps the file readable in Netron).
    let last_node = new_graph
        .iter()
        .rposition(|f| f.number() == GRAPH_NODE)
        .map_or(0, |i| i + 1);
    for (k, name) in float_outputs.iter().enumerate() {
        new_graph.insert(
            last_node + k,
            cast_node(&format!("{name}__fp16"), name, FLOAT),
        );
        report.casts_added += 1;
    }
    model_fields[graph_index] = Field::Bytes(MODEL_GRAPH, encode(&new_graph));
    Ok((encode(&model_fields), report))
}

/// Whether any output of this node must stay float32 (a Constant feeding Resize scales).
fn node_outputs_kept(
    node: &[u8],
    keep: &std::collections::HashSet<String>,
) -> Result<bool, OnnxError> {
    Ok(strings(&parse(node)?, NODE_OUTPUT)
        .iter()
        .any(|o| keep.contains(o)))
}

/// Converts tensor-valued attributes (Constant values, ConstantOfShape fills) and retargets
/// Casts to float.
fn half_attribute(
    op: &str,
    attr: &[u8],
    keep_float: bool,
    report: &mut HalfReport,
) -> Result<Vec<u8>, OnnxError> {
    let fields = parse(attr)?;
    let name = string(&fields, ATTR_NAME).unwrap_or_default();
    if fields
        .iter()
        .any(|f| matches!(f.number(), ATTR_G | ATTR_GRAPHS))
    {
        return Err(OnnxError::Unsupported(format!(
            "node {op} has a subgraph attribute '{name}' (control flow); fp16 conversion of such models is not supported"
        )));
    }
    if op == "Constant" && matches!(name.as_str(), "value_float" | "value_floats") {
        return Err(OnnxError::Unsupported(format!(
            "a Constant uses '{name}', which cannot hold fp16; re-export the model with constant folding"
        )));
    }
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        out.push(match f {
            Field::Varint(ATTR_I, v) if op == "Cast" && name == "to" && v == FLOAT => {
                Field::Varint(ATTR_I, FLOAT16)
            }
            Field::Bytes(ATTR_T, t) if !keep_float => {
                if varint(&parse(&t)?, TENSOR_DATA_TYPE) == Some(FLOAT) {
                    report.tensors_converted += 1;
                }
                Field::Bytes(ATTR_T, tensor_to_half(&t)?)
            }
            other => other,
        });
    }
    Ok(encode(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_bits_match_ieee_rounding() {
        for (v, bits) in [
            (0.0f32, 0x0000u16),
            (-0.0, 0x8000),
            (1.0, 0x3c00),
            (-2.0, 0xc000),
            (0.5, 0x3800),
            (65504.0, 0x7bff),
            (1e6, 0x7bff),
            (-1e6, 0xfbff),
            (6.1035156e-5, 0x0400),       // smallest normal
            (5.9604645e-8, 0x0001),       // smallest subnormal
            (2.9802322e-8, 0x0000),       // half of it: ties to even (0)
            (1.0 + 1.0 / 2048.0, 0x3c00), // tie between 1 and 1+2^-10: to even
            (1.0 + 3.0 / 2048.0, 0x3c02), // tie: to even (up)
            (0.1, 0x2e66),
            (std::f32::consts::PI, 0x4248),
        ] {
            assert_eq!(f32_to_f16_bits(v), bits, "{v}");
        }
        assert_eq!(f32_to_f16_bits(f32::NAN) & 0x7e00, 0x7e00);
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            write_varint(&mut b, v);
            let mut pos = 0;
            assert_eq!(read_varint(&b, &mut pos).unwrap(), v);
            assert_eq!(pos, b.len());
        }
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        assert!(to_half(b"\xff\xff\xff").is_err());
        assert!(to_half(b"not a model at all").is_err());
        assert!(to_half(&[]).is_err());
    }
}
