// SPDX-License-Identifier: MPL-2.0
//! The two ways `torch.save` lays out a checkpoint: a zip of `data.pkl` plus one entry per
//! storage (PyTorch ≥ 1.6, entries stored uncompressed), and the legacy sequence of pickles
//! followed by the raw storages. Both end in the same [`StateDict`].

use std::collections::HashMap;

use super::PthError;
use super::pickle::{DType, TensorRef, Unpickler, Value};

/// Which serialization a checkpoint used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zip,
    Legacy,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Legacy => "legacy pickle",
        }
    }
}

/// One state-dict entry: a float tensor made contiguous float32, or a non-float tensor kept
/// as its shape only (`num_batches_tracked`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// Contiguous float32 values; empty for non-float tensors.
    pub data: Vec<f32>,
}

/// A checkpoint's tensors by key, in file order.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    pub entries: Vec<(String, Tensor)>,
    pub format: Option<Format>,
    pub dtypes: Vec<DType>,
}

impl StateDict {
    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, t)| t)
    }
}

/// More dimensions than any layer weight has; keeps the strided walk's recursion shallow.
const MAX_RANK: usize = 8;

const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Reads a checkpoint's bytes into its state dict.
pub fn read(data: &[u8]) -> Result<StateDict, PthError> {
    if data.is_empty() {
        return Err(PthError::Empty);
    }
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        read_zip(data)
    } else if data.first() == Some(&0x80) {
        read_legacy(data)
    } else if data.len() > 262 && &data[257..262] == b"ustar" {
        Err(PthError::Unsupported(
            "a tar checkpoint (PyTorch before 0.4); load and save it again with a newer PyTorch"
                .into(),
        ))
    } else {
        Err(PthError::NotCheckpoint)
    }
}

fn read_legacy(data: &[u8]) -> Result<StateDict, PthError> {
    let mut u = Unpickler::new(data);
    match &u.load()? {
        Value::BigInt(b) if *b == LEGACY_MAGIC => {}
        _ => return Err(PthError::NotCheckpoint),
    }
    match u.load()? {
        Value::Int(1001) => {}
        Value::Int(v) => {
            return Err(PthError::Unsupported(format!(
                "legacy checkpoint protocol {v} (expected 1001)"
            )));
        }
        _ => return Err(PthError::Malformed("legacy protocol version".into())),
    }
    let sys_info = u.load()?;
    if let Value::Dict(d) = &sys_info {
        let little = d.borrow().iter().any(|(k, v)| {
            matches!((k, v), (Value::Str(k), Value::Bool(true)) if &**k == "little_endian")
        });
        if !little {
            return Err(PthError::Unsupported("a big-endian checkpoint".into()));
        }
    }
    let root = u.load()?;
    let keys = match &u.load()? {
        Value::List(l) => l
            .borrow()
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.to_string()),
                other => Err(PthError::Malformed(format!(
                    "storage key must be a string, found {}",
                    other.kind()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(PthError::Malformed(format!(
                "storage key list expected, found {}",
                other.kind()
            )));
        }
    };
    // Each storage: an 8-byte little-endian element count, then its bytes. The element size
    // comes from the tensors' storage types, so collect them first.
    let tensors = tensors_of(&root)?;
    let sizes: HashMap<&str, usize> = tensors
        .iter()
        .map(|(_, t)| (t.storage.key.as_str(), t.storage.dtype.size()))
        .collect();
    let mut pos = u.position();
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    for key in &keys {
        let count = data
            .get(pos..pos + 8)
            .ok_or(PthError::StorageTooShort(key.clone()))?;
        let count = u64::from_le_bytes(count.try_into().expect("8"));
        let elem = *sizes.get(key.as_str()).unwrap_or(&1);
        let len = count
            .checked_mul(elem as u64)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or(PthError::StorageTooShort(key.clone()))?;
        let start = pos + 8;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= data.len())
            .ok_or(PthError::StorageTooShort(key.clone()))?;
        storages.insert(key.clone(), &data[start..end]);
        pos = end;
    }
    assemble(tensors, &storages, Format::Legacy, data.len())
}

fn read_zip(data: &[u8]) -> Result<StateDict, PthError> {
    let entries = zip_entries(data)?;
    let pkl = entries
        .keys()
        .filter(|n| n.ends_with("data.pkl"))
        .min_by_key(|n| n.len())
        .ok_or_else(|| PthError::Zip("no data.pkl entry: not a PyTorch checkpoint".into()))?
        .clone();
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    let root = Unpickler::new(entries[&pkl]).load()?;
    if let Some(order) = entries.get(&format!("{prefix}byteorder"))
        && *order != b"little"
    {
        return Err(PthError::Unsupported("a big-endian checkpoint".into()));
    }
    let tensors = tensors_of(&root)?;
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    for (_, t) in &tensors {
        let key = &t.storage.key;
        if storages.contains_key(key) {
            continue;
        }
        let name = format!("{prefix}data/{key}");
        let bytes = entries
            .get(&name)
            .ok_or_else(|| PthError::Zip(format!("storage entry {name} missing")))?;
        storages.insert(key.clone(), bytes);
    }
    assemble(tensors, &storages, Format::Zip, data.len())
}

/// The state dict's `(key, tensor)` pairs: the top-level ordered dict, or the `state_dict`
/// / `model` entry of a training checkpoint dict.
fn tensors_of(root: &Value) -> Result<Vec<(String, TensorRef)>, PthError> {
    let Value::Dict(d) = root else {
        return Err(PthError::NotStateDict(format!(
            "the checkpoint holds a {}, not a dict of tensors",
            root.kind()
        )));
    };
    let d = d.borrow();
    let tensors: Vec<(String, TensorRef)> = d
        .iter()
        .filter_map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => Some((k.to_string(), (**t).clone())),
            _ => None,
        })
        .collect();
    if !tensors.is_empty() {
        return Ok(tensors);
    }
    for wanted in ["state_dict", "model", "model_state_dict", "net"] {
        if let Some((_, inner @ Value::Dict(_))) = d
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if &**s == wanted))
        {
            return tensors_of_flat(inner);
        }
    }
    Err(PthError::NotStateDict(
        "the checkpoint's dict holds no tensors".into(),
    ))
}

fn tensors_of_flat(root: &Value) -> Result<Vec<(String, TensorRef)>, PthError> {
    let Value::Dict(d) = root else {
        unreachable!("checked by the caller")
    };
    let tensors: Vec<_> = d
        .borrow()
        .iter()
        .filter_map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => Some((k.to_string(), (**t).clone())),
            _ => None,
        })
        .collect();
    if tensors.is_empty() {
        return Err(PthError::NotStateDict(
            "the checkpoint's state dict holds no tensors".into(),
        ));
    }
    Ok(tensors)
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        // Subnormal: value = mant · 2^-24, exact in f32.
        (0, m) => return sign_of(h) * (m as f32) * (-24f32).exp2(),
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

fn sign_of(h: u16) -> f32 {
    if h & 0x8000 != 0 { -1.0 } else { 1.0 }
}

/// Reads each tensor's elements through its offset and strides into contiguous float32.
fn assemble(
    tensors: Vec<(String, TensorRef)>,
    storages: &HashMap<String, &[u8]>,
    format: Format,
    file_len: usize,
) -> Result<StateDict, PthError> {
    // Tensors may share a storage, so each fitting its storage does not bound the total; a
    // state dict's float values never outnumber the file's bytes (4x for float32 storages).
    let mut budget = file_len as u64;
    let mut out = StateDict {
        format: Some(format),
        ..Default::default()
    };
    for (key, t) in tensors {
        let dtype = t.storage.dtype;
        if !out.dtypes.contains(&dtype) {
            out.dtypes.push(dtype);
        }
        let bytes = storages
            .get(&t.storage.key)
            .ok_or_else(|| PthError::StorageTooShort(key.clone()))?;
        let esize = dtype.size() as u64;
        let available = (bytes.len() as u64 / esize).min(t.storage.numel);
        let numel = t
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| PthError::Malformed(format!("{key}: size overflows")))?;
        let shape: Vec<usize> = t
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<_, _>>()
            .map_err(|_| PthError::Malformed(format!("{key}: size overflows")))?;
        if t.shape.len() > MAX_RANK {
            return Err(PthError::Malformed(format!(
                "{key}: {} dimensions",
                t.shape.len()
            )));
        }
        // A state dict's tensors never hold more elements than their storage; this also caps
        // what we allocate by the file's size.
        if numel > available {
            return Err(PthError::StorageTooShort(key));
        }
        if numel > 0 {
            // The last element a view reaches must lie inside the storage's bytes.
            let last = t
                .shape
                .iter()
                .zip(&t.stride)
                .try_fold(t.offset, |a, (&d, &s)| {
                    (d - 1).checked_mul(s).and_then(|x| a.checked_add(x))
                })
                .ok_or_else(|| PthError::Malformed(format!("{key}: strides overflow")))?;
            if last >= available {
                return Err(PthError::StorageTooShort(key));
            }
        }
        let is_float = matches!(dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64);
        if is_float {
            budget = budget.checked_sub(numel).ok_or_else(|| {
                PthError::Malformed(format!(
                    "{key}: the tensors hold more values than the file has bytes (storages shared over and over)"
                ))
            })?;
        }
        let data = if is_float {
            let mut data = Vec::with_capacity(numel as usize);
            let read = |i: u64| -> f32 {
                let at = (i * esize) as usize;
                let b = &bytes[at..at + esize as usize];
                match dtype {
                    DType::F32 => f32::from_le_bytes(b.try_into().expect("4")),
                    DType::F16 => f16_to_f32(u16::from_le_bytes(b.try_into().expect("2"))),
                    DType::BF16 => {
                        f32::from_bits((u16::from_le_bytes(b.try_into().expect("2")) as u32) << 16)
                    }
                    _ => f64::from_le_bytes(b.try_into().expect("8")) as f32,
                }
            };
            strided(&t.shape, &t.stride, t.offset, &mut |i| data.push(read(i)));
            data
        } else {
            Vec::new()
        };
        out.entries.push((key, Tensor { shape, dtype, data }));
    }
    Ok(out)
}

/// Calls `f` with the storage index of every element of a view, in row-major order.
fn strided(shape: &[u64], stride: &[u64], offset: u64, f: &mut impl FnMut(u64)) {
    match shape {
        [] => f(offset),
        [n, rest @ ..] => {
            for i in 0..*n {
                strided(rest, &stride[1..], offset + i * stride[0], f);
            }
        }
    }
}

/// Stored entries of a zip: name → bytes. PyTorch writes every entry uncompressed, with the
/// sizes in the central directory (zip64 fields when large).
fn zip_entries(data: &[u8]) -> Result<HashMap<String, &[u8]>, PthError> {
    let zerr = |m: &str| PthError::Zip(m.to_string());
    let le16 = |at: usize| -> Result<u64, PthError> {
        data.get(at..at + 2)
            .map(|b| u16::from_le_bytes(b.try_into().expect("2")) as u64)
            .ok_or_else(|| zerr("truncated (record runs past the end)"))
    };
    let le32 = |at: usize| -> Result<u64, PthError> {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4")) as u64)
            .ok_or_else(|| zerr("truncated (record runs past the end)"))
    };
    let le64 = |at: usize| -> Result<u64, PthError> {
        data.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
            .ok_or_else(|| zerr("truncated (record runs past the end)"))
    };
    let to_usize = |v: u64| usize::try_from(v).map_err(|_| zerr("offset too large"));
    // End of central directory: within the last 22 + 65535 bytes.
    let search_from = data.len().saturating_sub(22 + 0xffff);
    let eocd = (search_from..data.len().saturating_sub(21))
        .rev()
        .find(|&i| data[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| zerr("truncated: no end-of-central-directory record"))?;
    let mut count = le16(eocd + 10)?;
    let mut cd_offset = le32(eocd + 16)?;
    if (count == 0xffff || cd_offset == 0xffff_ffff) && eocd >= 20 {
        // Zip64 locator just before the EOCD points at the zip64 EOCD.
        let loc = eocd - 20;
        if data[loc..].starts_with(b"PK\x06\x07") {
            let z = to_usize(le64(loc + 8)?)?;
            if !data.get(z..).is_some_and(|d| d.starts_with(b"PK\x06\x06")) {
                return Err(zerr("bad zip64 end-of-central-directory record"));
            }
            count = le64(z + 32)?;
            cd_offset = le64(z + 48)?;
        }
    }
    let mut entries = HashMap::new();
    let mut p = to_usize(cd_offset)?;
    for _ in 0..count {
        if !data.get(p..).is_some_and(|d| d.starts_with(b"PK\x01\x02")) {
            return Err(zerr("truncated or corrupt central directory"));
        }
        let method = le16(p + 10)?;
        let mut csize = le32(p + 20)?;
        let mut usize_ = le32(p + 24)?;
        let name_len = to_usize(le16(p + 28)?)?;
        let extra_len = to_usize(le16(p + 30)?)?;
        let comment_len = to_usize(le16(p + 32)?)?;
        let mut local = le32(p + 42)?;
        let name = data
            .get(p + 46..p + 46 + name_len)
            .ok_or_else(|| zerr("truncated central directory"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        // Zip64 extra field: the 0xffffffff fields, in order.
        let mut e = p + 46 + name_len;
        let extra_end = e + extra_len;
        while e + 4 <= extra_end {
            let (id, len) = (le16(e)?, to_usize(le16(e + 2)?)?);
            if id == 1 {
                let mut q = e + 4;
                if usize_ == 0xffff_ffff {
                    usize_ = le64(q)?;
                    q += 8;
                }
                if csize == 0xffff_ffff {
                    csize = le64(q)?;
                    q += 8;
                }
                if local == 0xffff_ffff {
                    local = le64(q)?;
                }
            }
            e += 4 + len;
        }
        p = extra_end + comment_len;
        if method != 0 {
            return Err(PthError::Unsupported(format!(
                "zip entry {name} is compressed (method {method}); PyTorch writes stored entries"
            )));
        }
        if csize != usize_ {
            return Err(zerr("stored entry with differing sizes"));
        }
        let l = to_usize(local)?;
        if !data.get(l..).is_some_and(|d| d.starts_with(b"PK\x03\x04")) {
            return Err(zerr("truncated: local header missing"));
        }
        let start = l + 30 + to_usize(le16(l + 26)?)? + to_usize(le16(l + 28)?)?;
        let end = start
            .checked_add(to_usize(csize)?)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| zerr("truncated: entry runs past the end"))?;
        entries.insert(name, &data[start..end]);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn strides_walk_row_major() {
        let mut seen = Vec::new();
        // A 2x3 view transposed from a 3x2 storage.
        strided(&[2, 3], &[1, 2], 0, &mut |i| seen.push(i));
        assert_eq!(seen, [0, 2, 4, 1, 3, 5]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            let _ = read(&data);
            let mut zip = b"PK\x03\x04".to_vec();
            zip.extend(&data);
            let _ = read(&zip);
            let mut legacy = vec![0x80, 0x02];
            legacy.extend(&data);
            let _ = read(&legacy);
        }
    }
}
