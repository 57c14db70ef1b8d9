// SPDX-License-Identifier: MPL-2.0
//! The few ONNX protobuf messages the tools edit (model, graph, node, attribute, tensor,
//! value info), read and written on the wire format so unknown fields survive byte for byte.

/// Why a model's bytes cannot be read or rewritten. The text says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnnxError {
    #[error("truncated varint")]
    TruncatedVarint,
    #[error("varint longer than 10 bytes")]
    VarintTooLong,
    #[error("field runs past the end")]
    FieldPastEnd,
    #[error("unsupported protobuf wire type {0}")]
    WireType(u64),
    #[error("not an ONNX model: {0}")]
    NotOnnx(Box<OnnxError>),
    #[error("not an ONNX model: no graph")]
    NoGraph,
    #[error("model has no input")]
    NoInput,
    /// A model this tool cannot convert, with the reason and what to do.
    #[error("{0}")]
    Unsupported(String),
}

/// ONNX tensor element types.
pub const FLOAT: u64 = 1;
pub const FLOAT16: u64 = 10;

// Field numbers from onnx.proto.
pub const MODEL_GRAPH: u64 = 7;
pub const GRAPH_NODE: u64 = 1;
pub const GRAPH_INITIALIZER: u64 = 5;
pub const GRAPH_INPUT: u64 = 11;
pub const GRAPH_OUTPUT: u64 = 12;
pub const GRAPH_VALUE_INFO: u64 = 13;
pub const NODE_INPUT: u64 = 1;
pub const NODE_OUTPUT: u64 = 2;
pub const NODE_OP_TYPE: u64 = 4;
pub const NODE_ATTRIBUTE: u64 = 5;
pub const ATTR_NAME: u64 = 1;
pub const ATTR_I: u64 = 3;
pub const ATTR_T: u64 = 5;
pub const ATTR_G: u64 = 6;
pub const ATTR_GRAPHS: u64 = 11;
pub const TENSOR_DATA_TYPE: u64 = 2;
pub const TENSOR_FLOAT_DATA: u64 = 4;
pub const TENSOR_NAME: u64 = 8;
pub const TENSOR_RAW_DATA: u64 = 9;
pub const TENSOR_DATA_LOCATION: u64 = 14;
pub const VALUE_NAME: u64 = 1;
pub const VALUE_TYPE: u64 = 2;
pub const TYPE_TENSOR: u64 = 1;
pub const TENSOR_TYPE_ELEM: u64 = 1;

/// One field of a message: number and raw payload (varint value or bytes).
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Varint(u64, u64),
    Fixed64(u64, [u8; 8]),
    Bytes(u64, Vec<u8>),
    Fixed32(u64, [u8; 4]),
}

impl Field {
    pub fn number(&self) -> u64 {
        match self {
            Field::Varint(n, _)
            | Field::Fixed64(n, _)
            | Field::Bytes(n, _)
            | Field::Fixed32(n, _) => *n,
        }
    }
}

pub fn read_varint(data: &[u8], pos: &mut usize) -> Result<u64, OnnxError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos).ok_or(OnnxError::TruncatedVarint)?;
        *pos += 1;
        value |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(OnnxError::VarintTooLong)
}

pub fn parse(data: &[u8]) -> Result<Vec<Field>, OnnxError> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let key = read_varint(data, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        let take = |pos: &mut usize, n: usize| -> Result<&[u8], OnnxError> {
            let end = pos
                .checked_add(n)
                .filter(|&e| e <= data.len())
                .ok_or(OnnxError::FieldPastEnd)?;
            let s = &data[*pos..end];
            *pos = end;
            Ok(s)
        };
        fields.push(match wire {
            0 => Field::Varint(number, read_varint(data, &mut pos)?),
            1 => Field::Fixed64(number, take(&mut pos, 8)?.try_into().expect("8 bytes")),
            2 => {
                let len = read_varint(data, &mut pos)? as usize;
                Field::Bytes(number, take(&mut pos, len)?.to_vec())
            }
            5 => Field::Fixed32(number, take(&mut pos, 4)?.try_into().expect("4 bytes")),
            other => return Err(OnnxError::WireType(other)),
        });
    }
    Ok(fields)
}

pub fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        match f {
            Field::Varint(n, v) => {
                write_varint(&mut out, n << 3);
                write_varint(&mut out, *v);
            }
            Field::Fixed64(n, b) => {
                write_varint(&mut out, (n << 3) | 1);
                out.extend_from_slice(b);
            }
            Field::Bytes(n, b) => {
                write_varint(&mut out, (n << 3) | 2);
                write_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Field::Fixed32(n, b) => {
                write_varint(&mut out, (n << 3) | 5);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

pub fn string(fields: &[Field], number: u64) -> Option<String> {
    fields.iter().find_map(|f| match f {
        Field::Bytes(n, b) if *n == number => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    })
}

pub fn strings(fields: &[Field], number: u64) -> Vec<String> {
    fields
        .iter()
        .filter_map(|f| match f {
            Field::Bytes(n, b) if *n == number => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect()
}

pub fn varint(fields: &[Field], number: u64) -> Option<u64> {
    fields.iter().find_map(|f| match f {
        Field::Varint(n, v) if *n == number => Some(*v),
        _ => None,
    })
}

pub fn bytes_field(number: u64, s: &str) -> Field {
    Field::Bytes(number, s.as_bytes().to_vec())
}

/// The model's fields, the index of its graph field and the graph's own fields.
pub fn graph_of(model: &[u8]) -> Result<(Vec<Field>, usize, Vec<Field>), OnnxError> {
    let fields = parse(model).map_err(|e| OnnxError::NotOnnx(Box::new(e)))?;
    let index = fields
        .iter()
        .position(|f| matches!(f, Field::Bytes(MODEL_GRAPH, _)))
        .ok_or(OnnxError::NoGraph)?;
    let Field::Bytes(_, graph) = &fields[index] else {
        unreachable!("matched above")
    };
    let graph = parse(graph).map_err(|e| OnnxError::NotOnnx(Box::new(e)))?;
    Ok((fields, index, graph))
}

/// Dimensions of the model's first real input (graph inputs that are not initializers):
/// `Some(n)` for a fixed size, `None` for a symbolic or missing one.
pub fn first_input_dims(model: &[u8]) -> Result<Vec<Option<u64>>, OnnxError> {
    let (_, _, graph) = graph_of(model)?;
    let initializers: std::collections::HashSet<String> = graph
        .iter()
        .filter_map(|f| match f {
            Field::Bytes(GRAPH_INITIALIZER, t) => {
                parse(t).ok().and_then(|t| string(&t, TENSOR_NAME))
            }
            _ => None,
        })
        .collect();
    for f in &graph {
        let Field::Bytes(GRAPH_INPUT, v) = f else {
            continue;
        };
        let v = parse(v)?;
        if string(&v, VALUE_NAME).is_some_and(|n| initializers.contains(&n)) {
            continue;
        }
        let nested = |fields: &[Field], number: u64| -> Result<Vec<Field>, OnnxError> {
            match fields.iter().find(|f| f.number() == number) {
                Some(Field::Bytes(_, b)) => parse(b),
                _ => Ok(Vec::new()),
            }
        };
        let ty = nested(&v, VALUE_TYPE)?;
        let tensor = nested(&ty, TYPE_TENSOR)?;
        let shape = nested(&tensor, 2)?;
        let mut dims = Vec::new();
        for d in &shape {
            if let Field::Bytes(1, dim) = d {
                dims.push(varint(&parse(dim)?, 1));
            }
        }
        return Ok(dims);
    }
    Err(OnnxError::NoInput)
}
