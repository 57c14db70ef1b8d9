// SPDX-License-Identifier: MPL-2.0
//! Writes an ONNX model (opset 13) from nodes and float32 initializers, on the protobuf codec
//! of [`crate::onnx_proto`].

use crate::onnx_proto::{Field, encode, write_varint};

const ATTR_INT: u64 = 2;
const ATTR_INTS: u64 = 7;

pub fn attr_int(name: &str, v: i64) -> Field {
    Field::Bytes(
        5,
        encode(&[
            Field::Bytes(1, name.as_bytes().to_vec()),
            Field::Varint(3, v as u64),
            Field::Varint(20, ATTR_INT),
        ]),
    )
}

pub fn attr_ints(name: &str, v: &[i64]) -> Field {
    let mut fields = vec![Field::Bytes(1, name.as_bytes().to_vec())];
    fields.extend(v.iter().map(|&i| Field::Varint(8, i as u64)));
    fields.push(Field::Varint(20, ATTR_INTS));
    Field::Bytes(5, encode(&fields))
}

/// One dimension of a graph input or output: fixed, or named (dynamic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(u64),
    Named(String),
}

fn value_info(name: &str, dims: &[Dim]) -> Vec<u8> {
    let dims: Vec<Field> = dims
        .iter()
        .map(|d| {
            Field::Bytes(
                1,
                encode(&[match d {
                    Dim::Fixed(v) => Field::Varint(1, *v),
                    Dim::Named(n) => Field::Bytes(2, n.as_bytes().to_vec()),
                }]),
            )
        })
        .collect();
    let tensor = encode(&[
        Field::Varint(1, crate::onnx_proto::FLOAT),
        Field::Bytes(2, encode(&dims)),
    ]);
    encode(&[
        Field::Bytes(1, name.as_bytes().to_vec()),
        Field::Bytes(2, encode(&[Field::Bytes(1, tensor)])),
    ])
}

/// Nodes and initializers in the order they were added (already topological).
#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<Vec<u8>>,
    initializers: Vec<Vec<u8>>,
    counter: usize,
}

impl GraphBuilder {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    /// A float32 constant named after the checkpoint key it came from.
    pub fn initializer(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        let name = format!("{name}#{}", self.counter);
        self.counter += 1;
        let mut raw = Vec::with_capacity(data.len() * 4);
        for v in data {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        let mut fields: Vec<Field> = dims.iter().map(|&d| Field::Varint(1, d as u64)).collect();
        fields.push(Field::Varint(2, crate::onnx_proto::FLOAT));
        fields.push(Field::Bytes(8, name.as_bytes().to_vec()));
        fields.push(Field::Bytes(9, raw));
        self.initializers.push(encode(&fields));
        name
    }

    /// A node with one output; `out` names it (a graph output) or a fresh name is made.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<Field>,
        out: Option<&str>,
    ) -> String {
        let out = out.map_or_else(|| self.fresh(op), str::to_string);
        let mut fields: Vec<Field> = inputs
            .iter()
            .map(|i| Field::Bytes(1, i.as_bytes().to_vec()))
            .collect();
        fields.push(Field::Bytes(2, out.as_bytes().to_vec()));
        fields.push(Field::Bytes(
            3,
            format!("{op}_{}", self.nodes.len()).into_bytes(),
        ));
        fields.push(Field::Bytes(4, op.as_bytes().to_vec()));
        fields.extend(attrs);
        self.nodes.push(encode(&fields));
        out
    }

    /// The serialized model: IR 7, opset 13, one input, the given outputs.
    pub fn finish(self, input: (&str, &[Dim]), outputs: &[(&str, Vec<Dim>)], doc: &str) -> Vec<u8> {
        let mut graph = Vec::new();
        let mut put = |number: u64, bytes: &[u8]| {
            write_varint(&mut graph, (number << 3) | 2);
            write_varint(&mut graph, bytes.len() as u64);
            graph.extend_from_slice(bytes);
        };
        for n in &self.nodes {
            put(1, n);
        }
        put(2, b"trt_pose");
        for t in &self.initializers {
            put(5, t);
        }
        put(11, &value_info(input.0, input.1));
        for (name, dims) in outputs {
            put(12, &value_info(name, dims));
        }
        drop(self);
        let opset = encode(&[Field::Bytes(1, Vec::new()), Field::Varint(2, 13)]);
        let mut model = encode(&[
            Field::Varint(1, 7),
            Field::Bytes(2, b"gst-trtpose pth import".to_vec()),
            Field::Bytes(3, env!("CARGO_PKG_VERSION").as_bytes().to_vec()),
            Field::Bytes(6, doc.as_bytes().to_vec()),
            Field::Bytes(8, opset),
        ]);
        model.reserve(graph.len() + 16);
        write_varint(&mut model, (7 << 3) | 2);
        write_varint(&mut model, graph.len() as u64);
        model.extend_from_slice(&graph);
        model
    }
}
