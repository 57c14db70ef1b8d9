// SPDX-License-Identifier: MPL-2.0
//! trt_pose's networks from a state dict: which architecture the keys and shapes describe,
//! and the ONNX graph that computes it. Channel and layer counts are read from the tensors;
//! only what a state dict cannot say (strides, paddings, where ReLUs go) follows torchvision's
//! and trt_pose's model code.

use std::collections::BTreeMap;

use super::PthError;
use super::archive::{StateDict, Tensor};
use super::graph::{Dim, GraphBuilder, attr_int, attr_ints};

/// PyTorch's BatchNorm default; not stored in a state dict.
const BN_EPS: f64 = 1e-5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backbone {
    /// Block counts per stage and whether the blocks are bottlenecks.
    ResNet {
        blocks: [usize; 4],
        bottleneck: bool,
    },
    /// Dense layers per block.
    DenseNet { blocks: [usize; 4] },
    /// Inverted residuals per stack, and the last stack's channels (the width multiplier).
    MnasNet { stacks: [usize; 6], width: usize },
}

/// torchvision's MNASNet stacks: stride of the first block of each.
const MNASNET_STRIDES: [usize; 6] = [2, 2, 2, 1, 2, 1];

/// The head's configuration as trt_pose's `MODELS[name](…)` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Architecture {
    pub backbone: Backbone,
    pub attention: bool,
    /// What the keys start with before `0.`/`1.` (`module.` for DataParallel).
    pub prefix: String,
    pub feature_channels: usize,
    pub upsample_channels: usize,
    pub num_upsample: usize,
    pub num_flat: usize,
    pub cmap_channels: usize,
    pub paf_channels: usize,
}

impl Architecture {
    /// trt_pose's name, e.g. `resnet18_baseline_att`.
    pub fn name(&self) -> String {
        let backbone = match self.backbone {
            Backbone::ResNet { blocks, bottleneck } => {
                let per = if bottleneck { 3 } else { 2 };
                format!("resnet{}", 2 + per * blocks.iter().sum::<usize>())
            }
            Backbone::DenseNet { blocks } => {
                format!("densenet{}", 5 + 2 * blocks.iter().sum::<usize>())
            }
            Backbone::MnasNet { width, .. } => match width {
                160 => "mnasnet0_5".into(),
                240 => "mnasnet0_75".into(),
                320 => "mnasnet1_0".into(),
                416 => "mnasnet1_3".into(),
                w => format!("mnasnet(last stack {w} channels)"),
            },
        };
        let att = if self.attention { "_att" } else { "" };
        format!("{backbone}_baseline{att}")
    }

    /// The head in words, for the import report.
    pub fn head(&self) -> String {
        format!(
            "{} cmap / {} paf channels, upsample {} ch x{}, {} flat",
            self.cmap_channels,
            self.paf_channels,
            self.upsample_channels,
            self.num_upsample,
            self.num_flat
        )
    }
}

/// Key lookup below the detected prefix.
struct Keys<'a> {
    sd: &'a StateDict,
    prefix: String,
}

impl<'a> Keys<'a> {
    fn get(&self, key: &str) -> Option<&'a Tensor> {
        self.sd.get(&format!("{}{key}", self.prefix))
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn need(&self, key: &str) -> Result<&'a Tensor, PthError> {
        let t = self
            .get(key)
            .ok_or_else(|| PthError::MissingKey(format!("{}{key}", self.prefix)))?;
        if t.data.is_empty() && t.shape.iter().product::<usize>() > 0 {
            return Err(PthError::Shape(format!(
                "{}{key} is not a float tensor",
                self.prefix
            )));
        }
        Ok(t)
    }

    fn dim(&self, key: &str, rank: usize, axis: usize) -> Result<usize, PthError> {
        let t = self.need(key)?;
        if t.shape.len() != rank {
            return Err(PthError::Shape(format!(
                "{}{key} has shape {:?}, expected {rank} dimensions",
                self.prefix, t.shape
            )));
        }
        Ok(t.shape[axis])
    }
}

/// The text before `0.`/`1.` that every key shares (`""`, `module.`, …).
fn find_prefix(sd: &StateDict) -> Option<String> {
    let first = &sd.entries.first()?.0;
    let cuts = std::iter::once(0).chain(first.match_indices('.').map(|(i, _)| i + 1));
    cuts.map(|i| &first[..i]).find_map(|p| {
        let ok = sd.entries.iter().all(|(k, _)| {
            k.strip_prefix(p)
                .is_some_and(|r| r.starts_with("0.") || r.starts_with("1."))
        });
        ok.then(|| p.to_string())
    })
}

/// Groups of keys (first three parts) with counts, for errors about unknown layouts.
fn summary(sd: &StateDict) -> String {
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for (k, _) in &sd.entries {
        // The module a parameter belongs to, at most three levels deep.
        let module = k.rsplit_once('.').map_or(k.as_str(), |(m, _)| m);
        let g: Vec<&str> = module.split('.').take(3).collect();
        *groups.entry(g.join(".")).or_default() += 1;
    }
    let n = groups.len();
    let mut parts: Vec<String> = groups
        .into_iter()
        .take(16)
        .map(|(g, c)| format!("{g}.* ({c})"))
        .collect();
    if n > 16 {
        parts.push(format!("… {} more groups", n - 16));
    }
    format!("{} tensors: {}", sd.entries.len(), parts.join(", "))
}

/// Which trt_pose network the state dict holds.
pub fn detect(sd: &StateDict) -> Result<Architecture, PthError> {
    let unknown = |why: &str| PthError::NotTrtPose {
        why: why.to_string(),
        found: summary(sd),
    };
    let prefix = find_prefix(sd)
        .ok_or_else(|| unknown("keys do not start with trt_pose's 0. (backbone) and 1. (head)"))?;
    let k = Keys { sd, prefix };
    let (backbone, feature_channels) = if k.has("0.resnet.conv1.weight") {
        let bottleneck = k.has("0.resnet.layer1.0.conv3.weight");
        let mut blocks = [0; 4];
        for (l, b) in blocks.iter_mut().enumerate() {
            while k.has(&format!("0.resnet.layer{}.{}.conv1.weight", l + 1, *b)) {
                *b += 1;
            }
        }
        if blocks.contains(&0) {
            return Err(unknown("a ResNet backbone with an empty stage"));
        }
        let last = format!(
            "0.resnet.layer4.{}.{}.weight",
            blocks[3] - 1,
            if bottleneck { "conv3" } else { "conv2" }
        );
        (Backbone::ResNet { blocks, bottleneck }, k.dim(&last, 4, 0)?)
    } else if k.has("0.densenet.features.conv0.weight") {
        let mut blocks = [0; 4];
        for (i, b) in blocks.iter_mut().enumerate() {
            while k.has(&format!(
                "0.densenet.features.denseblock{}.denselayer{}.conv1.weight",
                i + 1,
                *b + 1
            )) {
                *b += 1;
            }
        }
        if blocks.contains(&0) {
            return Err(unknown("a DenseNet backbone with an empty block"));
        }
        (
            Backbone::DenseNet { blocks },
            k.dim("0.densenet.features.norm5.weight", 1, 0)?,
        )
    } else if k.has("0.backbone.layers.0.weight") {
        let mut stacks = [0; 6];
        for (i, n) in stacks.iter_mut().enumerate() {
            while k.has(&format!(
                "0.backbone.layers.{}.{}.layers.0.weight",
                i + 8,
                *n
            )) {
                *n += 1;
            }
        }
        if stacks.contains(&0) {
            return Err(unknown("an MNASNet backbone with an empty stack"));
        }
        let width = k.dim("0.backbone.layers.14.weight", 4, 1)?;
        (
            Backbone::MnasNet { stacks, width },
            k.dim("0.backbone.layers.14.weight", 4, 0)?,
        )
    } else {
        return Err(unknown(
            "no ResNet, DenseNet or MNASNet backbone (0.resnet.*, 0.densenet.features.*, 0.backbone.layers.*)",
        ));
    };
    let attention = k.has("1.cmap_att.weight");
    let (up, out) = if attention {
        ("1.cmap_up", "1.cmap_conv")
    } else if k.has("1.cmap_conv.0.0.weight") {
        ("1.cmap_conv.0", "1.cmap_conv.1")
    } else {
        ("", "1.cmap_conv")
    };
    if !k.has(&format!("{out}.weight")) {
        return Err(unknown("no cmap head (1.cmap_conv.*)"));
    }
    let (num_upsample, num_flat, upsample_channels) = count_upsample(&k, up)?;
    if num_upsample > 5 {
        return Err(PthError::Shape(format!(
            "{num_upsample} upsampling layers: more than the backbone's stride 32 allows"
        )));
    }
    let paf_out = out.replace("cmap", "paf");
    Ok(Architecture {
        backbone,
        attention,
        prefix: k.prefix.clone(),
        feature_channels,
        upsample_channels: if num_upsample > 0 {
            upsample_channels
        } else {
            feature_channels
        },
        num_upsample,
        num_flat,
        cmap_channels: k.dim(&format!("{out}.weight"), 4, 0)?,
        paf_channels: k.dim(&format!("{paf_out}.weight"), 4, 0)?,
    })
}

/// `(num_upsample, num_flat, channels)` of an `UpsampleCBR` sequence: modules in threes
/// (conv, BatchNorm, ReLU), a 4x4 transposed conv per upsampling followed by `num_flat`
/// 3x3 convs.
fn count_upsample(k: &Keys, seq: &str) -> Result<(usize, usize, usize), PthError> {
    if seq.is_empty() {
        return Ok((0, 0, 0));
    }
    let (mut ups, mut flats, mut channels) = (0, 0, 0);
    let mut i = 0;
    while let Some(w) = k.get(&format!("{seq}.{i}.weight")) {
        match w.shape[..] {
            [_, out, 4, 4] => {
                ups += 1;
                channels = out;
            }
            [out, _, 3, 3] => {
                flats += 1;
                channels = out;
            }
            _ => {
                return Err(PthError::Shape(format!(
                    "{}{seq}.{i}.weight has shape {:?}; expected a 4x4 transposed or 3x3 conv",
                    k.prefix, w.shape
                )));
            }
        }
        i += 3;
    }
    if ups == 0 {
        return Ok((0, 0, 0));
    }
    // num_flat is per upsampling layer.
    if flats % ups != 0 {
        return Err(PthError::Shape(format!(
            "{seq}: {flats} flat convs do not divide among {ups} upsampling layers"
        )));
    }
    Ok((ups, flats / ups, channels))
}

/// A feature map in the graph and its channel count.
#[derive(Clone)]
struct Feat {
    name: String,
    channels: usize,
}

/// Builds the ONNX graph from the state dict.
struct Net<'a> {
    k: Keys<'a>,
    g: GraphBuilder,
}

/// `gamma / sqrt(var + eps)` and `beta - mean · scale` of a BatchNorm, in f64.
fn bn_affine(k: &Keys, bn: &str, channels: usize) -> Result<(Vec<f64>, Vec<f64>), PthError> {
    let part = |name: &str| -> Result<&Tensor, PthError> {
        let t = k.need(&format!("{bn}.{name}"))?;
        if t.shape != [channels] {
            return Err(PthError::Shape(format!(
                "{}{bn}.{name} has shape {:?}, expected [{channels}]",
                k.prefix, t.shape
            )));
        }
        Ok(t)
    };
    let (g, b, m, v) = (
        part("weight")?,
        part("bias")?,
        part("running_mean")?,
        part("running_var")?,
    );
    let scale: Vec<f64> = (0..channels)
        .map(|c| g.data[c] as f64 / (v.data[c] as f64 + BN_EPS).sqrt())
        .collect();
    let shift = (0..channels)
        .map(|c| b.data[c] as f64 - m.data[c] as f64 * scale[c])
        .collect();
    Ok((scale, shift))
}

impl Net<'_> {
    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<crate::onnx_proto::Field>) -> String {
        self.g.node(op, inputs, attrs, None)
    }

    fn relu(&mut self, x: Feat) -> Feat {
        Feat {
            name: self.node("Relu", &[&x.name], vec![]),
            channels: x.channels,
        }
    }

    /// Conv (or 4x4 stride-2 ConvTranspose) with an optional BatchNorm folded in and an
    /// optional ReLU. `out` names a graph output.
    fn conv(
        &mut self,
        x: &Feat,
        conv: &str,
        bn: Option<&str>,
        stride: usize,
        relu: bool,
        out: Option<&str>,
    ) -> Result<Feat, PthError> {
        let w = self.k.need(&format!("{conv}.weight"))?;
        let [a, b, kh, kw] = w.shape[..] else {
            return Err(PthError::Shape(format!(
                "{}{conv}.weight has shape {:?}, expected 4 dimensions",
                self.k.prefix, w.shape
            )));
        };
        // Conv2d is [out, in/groups, kh, kw]; trt_pose's only ConvTranspose2d (4x4) is
        // [in, out, …]. A [C, 1, k, k] weight on C channels is depthwise (MNASNet).
        let transposed = kh == 4 && kw == 4;
        let (cin, cout) = if transposed { (a, b) } else { (b, a) };
        let groups = if !transposed && b == 1 && a == x.channels && a > 1 {
            a
        } else {
            1
        };
        if cin * groups != x.channels {
            return Err(PthError::Shape(format!(
                "{}{conv}.weight takes {cin} channels but its input has {}",
                self.k.prefix, x.channels
            )));
        }
        let bias = match self.k.get(&format!("{conv}.bias")) {
            Some(t) if t.shape == [cout] && !t.data.is_empty() => Some(t.data.as_slice()),
            Some(t) => {
                return Err(PthError::Shape(format!(
                    "{}{conv}.bias has shape {:?}, expected [{cout}]",
                    self.k.prefix, t.shape
                )));
            }
            None => None,
        };
        let mut weight = w.data.clone();
        let mut b: Vec<f32> = bias.map_or_else(|| vec![0.0; cout], <[f32]>::to_vec);
        if let Some(bn) = bn {
            let (scale, shift) = bn_affine(&self.k, bn, cout)?;
            let per = kh * kw;
            for (i, v) in weight.iter_mut().enumerate() {
                let o = if transposed {
                    (i / per) % cout
                } else {
                    i / (per * w.shape[1])
                };
                *v = (*v as f64 * scale[o]) as f32;
            }
            for (o, v) in b.iter_mut().enumerate() {
                *v = (*v as f64 * scale[o] + shift[o]) as f32;
            }
        }
        let has_bias = bn.is_some() || bias.is_some();
        let wname = self
            .g
            .initializer(&format!("{conv}.weight"), &w.shape, &weight);
        let mut inputs = vec![x.name.clone(), wname];
        if has_bias {
            inputs.push(self.g.initializer(&format!("{conv}.bias"), &[cout], &b));
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let (op, stride, pad) = if transposed {
            ("ConvTranspose", 2, 1)
        } else {
            ("Conv", stride as i64, (kh as i64 - 1) / 2)
        };
        let mut attrs = vec![
            attr_ints("kernel_shape", &[kh as i64, kw as i64]),
            attr_ints("strides", &[stride, stride]),
            attr_ints("pads", &[pad, pad, pad, pad]),
        ];
        if groups > 1 {
            attrs.push(attr_int("group", groups as i64));
        }
        let name = self
            .g
            .node(op, &inputs, attrs, if relu { None } else { out });
        let y = Feat {
            name,
            channels: cout,
        };
        Ok(if relu { self.relu(y) } else { y })
    }

    /// A BatchNorm on its own (DenseNet's pre-activation ones) as a per-channel scale and
    /// shift, optionally followed by ReLU.
    fn bn(&mut self, x: &Feat, bn: &str, relu: bool) -> Result<Feat, PthError> {
        let (scale, shift) = bn_affine(&self.k, bn, x.channels)?;
        let c = x.channels;
        let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        let s = self
            .g
            .initializer(&format!("{bn}.scale"), &[c, 1, 1], &f(scale));
        let b = self
            .g
            .initializer(&format!("{bn}.shift"), &[c, 1, 1], &f(shift));
        let scaled = self.node("Mul", &[&x.name, &s], vec![]);
        let name = self.node("Add", &[&scaled, &b], vec![]);
        let y = Feat { name, channels: c };
        Ok(if relu { self.relu(y) } else { y })
    }

    fn pool(&mut self, op: &str, x: &Feat, k: i64, s: i64, p: i64) -> Feat {
        let name = self.node(
            op,
            &[&x.name],
            vec![
                attr_ints("kernel_shape", &[k, k]),
                attr_ints("strides", &[s, s]),
                attr_ints("pads", &[p, p, p, p]),
            ],
        );
        Feat {
            name,
            channels: x.channels,
        }
    }

    fn concat(&mut self, xs: &[Feat]) -> Feat {
        if let [x] = xs {
            return x.clone();
        }
        let names: Vec<&str> = xs.iter().map(|f| f.name.as_str()).collect();
        let name = self.node("Concat", &names, vec![attr_int("axis", 1)]);
        Feat {
            name,
            channels: xs.iter().map(|f| f.channels).sum(),
        }
    }

    fn resnet(&mut self, x: &Feat, blocks: [usize; 4], bottleneck: bool) -> Result<Feat, PthError> {
        let mut x = self.conv(x, "0.resnet.conv1", Some("0.resnet.bn1"), 2, true, None)?;
        x = self.pool("MaxPool", &x, 3, 2, 1);
        for (l, &n) in blocks.iter().enumerate() {
            for b in 0..n {
                let p = format!("0.resnet.layer{}.{b}", l + 1);
                // torchvision: the first block of layers 2-4 halves the size (v1.5: in the
                // 3x3 conv of a bottleneck).
                let stride = if l > 0 && b == 0 { 2 } else { 1 };
                let c = |i: usize| (format!("{p}.conv{i}"), format!("{p}.bn{i}"));
                let y = if bottleneck {
                    let (c1, b1) = c(1);
                    let (c2, b2) = c(2);
                    let (c3, b3) = c(3);
                    let y = self.conv(&x, &c1, Some(&b1), 1, true, None)?;
                    let y = self.conv(&y, &c2, Some(&b2), stride, true, None)?;
                    self.conv(&y, &c3, Some(&b3), 1, false, None)?
                } else {
                    let (c1, b1) = c(1);
                    let (c2, b2) = c(2);
                    let y = self.conv(&x, &c1, Some(&b1), stride, true, None)?;
                    self.conv(&y, &c2, Some(&b2), 1, false, None)?
                };
                let short = if self.k.has(&format!("{p}.downsample.0.weight")) {
                    let (d0, d1) = (format!("{p}.downsample.0"), format!("{p}.downsample.1"));
                    self.conv(&x, &d0, Some(&d1), stride, false, None)?
                } else {
                    x.clone()
                };
                if short.channels != y.channels {
                    return Err(PthError::Shape(format!(
                        "{}{p}: residual of {} channels added to {}",
                        self.k.prefix, short.channels, y.channels
                    )));
                }
                let sum = self.node("Add", &[&y.name, &short.name], vec![]);
                x = self.relu(Feat {
                    name: sum,
                    channels: y.channels,
                });
            }
        }
        Ok(x)
    }

    fn densenet(&mut self, x: &Feat, blocks: [usize; 4]) -> Result<Feat, PthError> {
        let f = "0.densenet.features";
        let (c0, n0) = (format!("{f}.conv0"), format!("{f}.norm0"));
        let mut x = self.conv(x, &c0, Some(&n0), 2, true, None)?;
        x = self.pool("MaxPool", &x, 3, 2, 1);
        for (i, &n) in blocks.iter().enumerate() {
            let mut feats = vec![x.clone()];
            for l in 1..=n {
                let p = format!("{f}.denseblock{}.denselayer{l}", i + 1);
                let input = self.concat(&feats);
                let h = self.bn(&input, &format!("{p}.norm1"), true)?;
                let (c1, n2, c2) = (
                    format!("{p}.conv1"),
                    format!("{p}.norm2"),
                    format!("{p}.conv2"),
                );
                let h = self.conv(&h, &c1, Some(&n2), 1, true, None)?;
                let h = self.conv(&h, &c2, None, 1, false, None)?;
                feats.push(h);
            }
            x = self.concat(&feats);
            let t = format!("{f}.transition{}", i + 1);
            if i < 3 {
                let h = self.bn(&x, &format!("{t}.norm"), true)?;
                let h = self.conv(&h, &format!("{t}.conv"), None, 1, false, None)?;
                x = self.pool("AveragePool", &h, 2, 2, 0);
            }
        }
        // The backbone ends at norm5, without the ReLU torchvision applies in forward().
        self.bn(&x, &format!("{f}.norm5"), false)
    }

    fn mnasnet(&mut self, x: &Feat, stacks: [usize; 6]) -> Result<Feat, PthError> {
        let l = "0.backbone.layers";
        let m = |i: usize| format!("{l}.{i}");
        let mut x = self.conv(x, &m(0), Some(&m(1)), 2, true, None)?;
        x = self.conv(&x, &m(3), Some(&m(4)), 1, true, None)?;
        x = self.conv(&x, &m(6), Some(&m(7)), 1, false, None)?;
        for (s, &n) in stacks.iter().enumerate() {
            for j in 0..n {
                let p = |i: usize| format!("{l}.{}.{j}.layers.{i}", s + 8);
                let stride = if j == 0 { MNASNET_STRIDES[s] } else { 1 };
                let y = self.conv(&x, &p(0), Some(&p(1)), 1, true, None)?;
                let y = self.conv(&y, &p(3), Some(&p(4)), stride, true, None)?;
                let y = self.conv(&y, &p(6), Some(&p(7)), 1, false, None)?;
                // torchvision's _InvertedResidual adds its input when shapes allow.
                x = if stride == 1 && y.channels == x.channels {
                    let sum = self.node("Add", &[&y.name, &x.name], vec![]);
                    Feat {
                        name: sum,
                        channels: y.channels,
                    }
                } else {
                    y
                };
            }
        }
        self.conv(&x, &m(14), Some(&m(15)), 1, true, None)
    }

    /// `UpsampleCBR`: (4x4 ConvTranspose or 3x3 Conv) + BatchNorm + ReLU, in threes.
    fn upsample(&mut self, x: &Feat, seq: &str) -> Result<Feat, PthError> {
        let mut x = x.clone();
        let mut i = 0;
        while self.k.has(&format!("{seq}.{i}.weight")) {
            let (c, b) = (format!("{seq}.{i}"), format!("{seq}.{}", i + 1));
            x = self.conv(&x, &c, Some(&b), 1, true, None)?;
            i += 3;
        }
        Ok(x)
    }

    fn head(&mut self, x: &Feat, arch: &Architecture) -> Result<(), PthError> {
        for (map, gate) in [("cmap", "Sigmoid"), ("paf", "Tanh")] {
            if arch.attention {
                let up = self.upsample(x, &format!("1.{map}_up"))?;
                let att = self.conv(&up, &format!("1.{map}_att"), None, 1, false, None)?;
                let a = self.node(gate, &[&att.name], vec![]);
                let gated = Feat {
                    name: self.node("Mul", &[&up.name, &a], vec![]),
                    channels: up.channels,
                };
                self.conv(&gated, &format!("1.{map}_conv"), None, 1, false, Some(map))?;
            } else if arch.num_upsample > 0 {
                let up = self.upsample(x, &format!("1.{map}_conv.0"))?;
                self.conv(&up, &format!("1.{map}_conv.1"), None, 1, false, Some(map))?;
            } else {
                self.conv(x, &format!("1.{map}_conv"), None, 1, false, Some(map))?;
            }
        }
        Ok(())
    }
}

/// Input size and batch of the exported graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub width: u32,
    pub height: u32,
    /// `None`: a dynamic batch dimension `N`.
    pub batch: Option<u32>,
}

/// The ONNX model of `arch`: input `input` `[N,3,H,W]`, outputs `cmap` and `paf`
/// `[N,C,H/4,W/4]`.
pub fn build(sd: &StateDict, arch: &Architecture, shape: Shape) -> Result<Vec<u8>, PthError> {
    if shape.width == 0
        || shape.height == 0
        || !shape.width.is_multiple_of(32)
        || !shape.height.is_multiple_of(32)
    {
        return Err(PthError::Size(format!(
            "{}x{}: trt_pose needs a width and height that are multiples of 32",
            shape.width, shape.height
        )));
    }
    let mut net = Net {
        k: Keys {
            sd,
            prefix: arch.prefix.clone(),
        },
        g: GraphBuilder::default(),
    };
    let input = Feat {
        name: "input".into(),
        channels: 3,
    };
    let features = match arch.backbone {
        Backbone::ResNet { blocks, bottleneck } => net.resnet(&input, blocks, bottleneck)?,
        Backbone::DenseNet { blocks } => net.densenet(&input, blocks)?,
        Backbone::MnasNet { stacks, .. } => net.mnasnet(&input, stacks)?,
    };
    net.head(&features, arch)?;
    let batch = match shape.batch {
        Some(b) => Dim::Fixed(b as u64),
        None => Dim::Named("N".into()),
    };
    let (h, w) = (shape.height as u64, shape.width as u64);
    // The backbone's stride 32, halved by each upsampling (3 of them: stride 4).
    let up = 1u64 << arch.num_upsample;
    let map = |c: usize| {
        vec![
            batch.clone(),
            Dim::Fixed(c as u64),
            Dim::Fixed(h / 32 * up),
            Dim::Fixed(w / 32 * up),
        ]
    };
    let doc = format!(
        "trt_pose {} ({}), imported from a PyTorch checkpoint",
        arch.name(),
        arch.head()
    );
    Ok(net.g.finish(
        (
            "input",
            &[batch.clone(), Dim::Fixed(3), Dim::Fixed(h), Dim::Fixed(w)],
        ),
        &[
            ("cmap", map(arch.cmap_channels)),
            ("paf", map(arch.paf_channels)),
        ],
        &doc,
    ))
}
