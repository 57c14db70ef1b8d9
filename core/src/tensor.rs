// SPDX-License-Identifier: MPL-2.0
//! Tensors as engines and pre-processing exchange them: the input's layout, element type and
//! normalization, model input/output descriptions, and run buffers. A leaf module.

use std::fmt;

/// Tensor layout of the network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorLayout {
    Nchw,
    Nhwc,
}

/// Per-channel `value * scale + offset` applied to RGB 0..255.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub scale: [f32; 3],
    pub offset: [f32; 3],
}

impl Normalize {
    pub const IDENTITY: Normalize = Normalize {
        scale: [1.0; 3],
        offset: [0.0; 3],
    };

    /// `(v / 255 - mean) / std`, as torchvision models expect.
    pub fn mean_std(mean: [f32; 3], std: [f32; 3]) -> Self {
        Normalize {
            scale: [0, 1, 2].map(|c| 1.0 / (255.0 * std[c])),
            offset: [0, 1, 2].map(|c| -mean[c] / std[c]),
        }
    }

    pub fn apply(&self, c: usize, v: f32) -> f32 {
        v * self.scale[c] + self.offset[c]
    }
}

/// Element type the network wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputElem {
    F32,
    /// Rounded 0..255 integers (MoveNet).
    I32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputFormat {
    pub layout: TensorLayout,
    pub elem: InputElem,
    pub normalize: Normalize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    F32,
    F16,
    I32,
    I64,
    U8,
    Other,
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElementType::F32 => "float32",
            ElementType::F16 => "float16",
            ElementType::I32 => "int32",
            ElementType::I64 => "int64",
            ElementType::U8 => "uint8",
            ElementType::Other => "unsupported type",
        })
    }
}

/// Name, element type and shape (-1 = dynamic) of a model input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub elem: ElementType,
    pub shape: Vec<i64>,
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| if *d < 0 { "?".into() } else { d.to_string() })
            .collect();
        write!(f, "'{}' {} [{}]", self.name, self.elem, dims.join(", "))
    }
}

/// Network input of one run: NCHW/NHWC data already laid out as the model wants it.
#[derive(Debug, Clone, Copy)]
pub enum InputData<'a> {
    F32(&'a [f32]),
    I32(&'a [i32]),
}

/// One output after a run: float32 values and their concrete shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputBuffer {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}
