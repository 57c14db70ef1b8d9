// SPDX-License-Identifier: MPL-2.0
//! trt_pose PyTorch checkpoints (`.pth`) to ONNX, without Python or libtorch.
//!
//! [`archive`] reads both `torch.save` layouts through the restricted unpickler of
//! [`pickle`] into a [`StateDict`]; [`arch`] recognises the trt_pose network the keys and
//! shapes describe and builds its graph with [`graph`]. [`resolve`] is the one place a model
//! path becomes something ONNX Runtime can load: a checkpoint is imported on first use into a
//! cached ONNX, reused while the checkpoint's sha256 matches the sidecar's.

pub mod arch;
pub mod archive;
pub mod graph;
pub mod pickle;
#[cfg(test)]
mod testdata;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use arch::{Architecture, Backbone, Shape};
pub use archive::{Format, StateDict};

/// Bumped when the importer's output changes, so cached imports are redone.
pub const IMPORTER_VERSION: u32 = 1;

/// Input size when neither the file name nor the caller gives one (trt_pose's resnet18 model).
pub const DEFAULT_SIZE: (u32, u32) = (224, 224);

/// Why a checkpoint cannot be imported. The text says what is wrong with the file.
#[derive(Debug, thiserror::Error)]
pub enum PthError {
    #[error("empty file: not a PyTorch checkpoint")]
    Empty,
    #[error("not a PyTorch checkpoint (neither torch.save's zip nor its legacy pickle format)")]
    NotCheckpoint,
    #[error("broken checkpoint zip: {0}")]
    Zip(String),
    #[error("truncated checkpoint: the pickle ends early")]
    TruncatedPickle,
    #[error("pickle opcode 0x{0:02x} is not used by state dicts; refusing the checkpoint")]
    Opcode(u8),
    #[error(
        "the checkpoint refers to {0}, which a state dict never needs; refusing it (checkpoints are read, never executed). \
         A whole pickled model or training state? Save model.state_dict() instead"
    )]
    ForbiddenGlobal(String),
    #[error("the checkpoint asks for a call a state dict never makes ({0}); refusing it")]
    ForbiddenCall(String),
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    #[error("tensor {0}: its storage is shorter than the tensor (truncated or corrupt checkpoint)")]
    StorageTooShort(String),
    #[error("unsupported checkpoint: {0}")]
    Unsupported(String),
    #[error("not a state dict: {0}")]
    NotStateDict(String),
    #[error("not a trt_pose state dict: {why}. Found {found}")]
    NotTrtPose { why: String, found: String },
    #[error("trt_pose state dict lacks {0}")]
    MissingKey(String),
    #[error("unexpected tensor shape: {0}")]
    Shape(String),
    #[error("input size {0}")]
    Size(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PthError + '_ {
    move |source| PthError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Whether a model path names a PyTorch checkpoint (`.pth`, `.pt`).
pub fn is_checkpoint(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pth") || e.eq_ignore_ascii_case("pt"))
}

/// `WxH` from a name like `resnet18_baseline_att_224x224_A_epoch_249.pth`.
pub fn size_from_name(path: &Path) -> Option<(u32, u32)> {
    let name = path.file_name()?.to_str()?;
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|token| {
            let (w, h) = token.split_once('x')?;
            let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !all_digits(w) || !all_digits(h) {
                return None;
            }
            Some((w.parse().ok()?, h.parse().ok()?))
        })
        .filter(|&(w, h): &(u32, u32)| w > 0 && h > 0)
}

/// What an import found and made.
#[derive(Debug, Clone)]
pub struct Imported {
    pub architecture: Architecture,
    pub format: Format,
    /// Element types of the checkpoint's tensors.
    pub dtypes: Vec<pickle::DType>,
    pub tensors: usize,
    pub shape: Shape,
    pub onnx: Vec<u8>,
}

/// Checkpoint bytes to ONNX bytes.
pub fn import_bytes(data: &[u8], shape: Shape) -> Result<Imported, PthError> {
    let sd = archive::read(data)?;
    let architecture = arch::detect(&sd)?;
    let onnx = arch::build(&sd, &architecture, shape)?;
    Ok(Imported {
        architecture,
        format: sd.format.unwrap_or(Format::Zip),
        dtypes: sd.dtypes.clone(),
        tensors: sd.entries.len(),
        shape,
        onnx,
    })
}

/// What the JSON sidecar beside an imported model records (`MODEL.onnx.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportSidecar {
    /// Always `pth-import`.
    pub kind: String,
    pub source: String,
    pub source_sha256: String,
    pub importer_version: u32,
    pub architecture: String,
    pub serialization: String,
    pub input_width: u32,
    pub input_height: u32,
    /// `None`: dynamic batch.
    pub batch: Option<u32>,
    pub upsample_channels: usize,
    pub num_upsample: usize,
    pub num_flat: usize,
    pub cmap_channels: usize,
    pub paf_channels: usize,
    pub model_family: String,
    pub topology: String,
    pub created_unix: u64,
}

impl ImportSidecar {
    /// `MODEL.onnx.json`, named like `convert`'s sidecars.
    pub fn path_for(model: &Path) -> PathBuf {
        let mut p = model.as_os_str().to_owned();
        p.push(".json");
        PathBuf::from(p)
    }

    pub fn load(model: &Path) -> Option<ImportSidecar> {
        let text = std::fs::read_to_string(Self::path_for(model)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// An import written to disk.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub imported: Imported,
    pub sidecar: ImportSidecar,
    pub output: PathBuf,
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `bytes` to `path` through a temporary file beside it, so readers never see half a
/// model.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PthError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".partial{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let r = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(io_err(path))
}

/// Imports the checkpoint `source` into `output` (and its sidecar). `size` defaults to the
/// name's `WxH`, else [`DEFAULT_SIZE`]; `batch` `None` keeps the batch dynamic.
pub fn import_file(
    source: &Path,
    output: &Path,
    size: Option<(u32, u32)>,
    batch: Option<u32>,
) -> Result<ImportReport, PthError> {
    let data = std::fs::read(source).map_err(io_err(source))?;
    import_data(source, &data, output, size, batch)
}

fn import_data(
    source: &Path,
    data: &[u8],
    output: &Path,
    size: Option<(u32, u32)>,
    batch: Option<u32>,
) -> Result<ImportReport, PthError> {
    let (width, height) = size
        .or_else(|| size_from_name(source))
        .unwrap_or(DEFAULT_SIZE);
    let shape = Shape {
        width,
        height,
        batch,
    };
    let imported = import_bytes(data, shape)?;
    let a = &imported.architecture;
    let sidecar = ImportSidecar {
        kind: "pth-import".into(),
        source: source.display().to_string(),
        source_sha256: sha256_hex(data),
        importer_version: IMPORTER_VERSION,
        architecture: a.name(),
        serialization: imported.format.name().into(),
        input_width: width,
        input_height: height,
        batch,
        upsample_channels: a.upsample_channels,
        num_upsample: a.num_upsample,
        num_flat: a.num_flat,
        cmap_channels: a.cmap_channels,
        paf_channels: a.paf_channels,
        model_family: "trt-pose".into(),
        topology: "human_pose".into(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    write_atomic(output, &imported.onnx)?;
    let text = serde_json::to_string_pretty(&sidecar).expect("serializable");
    write_atomic(&ImportSidecar::path_for(output), text.as_bytes())?;
    Ok(ImportReport {
        imported,
        sidecar,
        output: output.to_path_buf(),
    })
}

/// Where a checkpoint's import is cached: beside it (`X.pth.onnx`), else in
/// `$XDG_CACHE_HOME/gst-trtpose/pth/` (`~/.cache/…`) under a name holding its hash.
pub fn cache_candidates(checkpoint: &Path, sha256: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut beside = checkpoint.as_os_str().to_owned();
    beside.push(".onnx");
    v.push(PathBuf::from(beside));
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        });
    if let Some(dir) = cache {
        let stem = checkpoint
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned());
        let short = &sha256[..sha256.len().min(16)];
        v.push(dir.join(format!("gst-trtpose/pth/{stem}-{short}.onnx")));
    }
    v
}

/// The first candidate whose sidecar matches the checkpoint's hash and this importer.
fn current_among(candidates: &[PathBuf], sha: &str) -> Option<PathBuf> {
    candidates
        .iter()
        .find(|c| {
            c.is_file()
                && ImportSidecar::load(c).is_some_and(|s| {
                    s.source_sha256 == sha && s.importer_version == IMPORTER_VERSION
                })
        })
        .cloned()
}

/// The checkpoint's current import, if one exists, without making one (`trtposeconvert
/// check` only looks).
pub fn current_import(checkpoint: &Path) -> Result<Option<PathBuf>, PthError> {
    let data = std::fs::read(checkpoint).map_err(io_err(checkpoint))?;
    let sha = sha256_hex(&data);
    Ok(current_among(&cache_candidates(checkpoint, &sha), &sha))
}

/// How [`resolve`] got its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Not a checkpoint: used as it is.
    AsIs,
    /// A cached import whose sidecar matches the checkpoint's hash.
    Cached,
    /// Imported now (architecture name).
    Imported(String),
}

/// The ONNX model to load for `model`: the path itself, or for a `.pth` checkpoint its
/// cached import, made now when missing or stale.
pub fn resolve(model: &Path) -> Result<(PathBuf, Resolved), PthError> {
    if !is_checkpoint(model) {
        return Ok((model.to_path_buf(), Resolved::AsIs));
    }
    let data = std::fs::read(model).map_err(io_err(model))?;
    let sha = sha256_hex(&data);
    let candidates = cache_candidates(model, &sha);
    if let Some(c) = current_among(&candidates, &sha) {
        return Ok((c, Resolved::Cached));
    }
    let mut last = None;
    for c in &candidates {
        if let Some(dir) = c.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match import_data(model, &data, c, None, None) {
            Ok(r) => return Ok((c.clone(), Resolved::Imported(r.sidecar.architecture))),
            // A folder we cannot write: try the next place.
            Err(e @ PthError::Io { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| PthError::Io {
        path: model.display().to_string(),
        source: std::io::Error::other("no writable place for the imported model"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_names() {
        let s = |n: &str| size_from_name(Path::new(n));
        assert_eq!(
            s("resnet18_baseline_att_224x224_A_epoch_249.pth"),
            Some((224, 224))
        );
        assert_eq!(
            s("densenet121_baseline_att_256x320_B.pth"),
            Some((256, 320))
        );
        assert_eq!(s("640x480.pth"), Some((640, 480)));
        assert_eq!(s("model.pth"), None);
        assert_eq!(s("x.pth"), None);
        assert_eq!(s("max_pool.pth"), None);
    }

    #[test]
    fn checkpoints_are_recognised_by_extension() {
        assert!(is_checkpoint(Path::new("a/b.pth")));
        assert!(is_checkpoint(Path::new("b.PT")));
        assert!(!is_checkpoint(Path::new("b.onnx")));
    }

    const SHAPE: Shape = Shape {
        width: 64,
        height: 96,
        batch: Some(1),
    };

    #[test]
    fn tiny_networks_round_trip_through_both_formats_with_their_own_channel_counts() {
        for (prefix, ups) in [("", 3), ("module.", 2), ("module.module.", 1)] {
            let entries = testdata::tiny_resnet(prefix, ups);
            for (bytes, format) in [
                (testdata::legacy(&entries), Format::Legacy),
                (testdata::zip(&entries), Format::Zip),
            ] {
                let sd = archive::read(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e}"));
                assert_eq!(sd.format, Some(format));
                assert_eq!(sd.entries.len(), entries.len());
                for ((k, shape, data), (k2, t)) in entries.iter().zip(&sd.entries) {
                    assert_eq!((k, shape, data), (k2, &t.shape, &t.data));
                }
                let i = import_bytes(&bytes, SHAPE).unwrap_or_else(|e| panic!("{e}"));
                let a = &i.architecture;
                assert_eq!(a.name(), "resnet10_baseline_att");
                assert_eq!(a.prefix, prefix);
                assert_eq!(
                    (
                        a.feature_channels,
                        a.upsample_channels,
                        a.num_upsample,
                        a.num_flat
                    ),
                    (10, 6, ups, 0)
                );
                assert_eq!((a.cmap_channels, a.paf_channels), (5, 8));
                let (_, _, graph) = crate::onnx_proto::graph_of(&i.onnx).unwrap();
                assert!(graph.len() > 50);
            }
        }
    }

    #[test]
    fn a_state_dict_of_another_network_lists_what_it_found() {
        let mut entries = testdata::tiny_resnet("", 1);
        for e in &mut entries {
            e.0 = e.0.replace("0.resnet", "0.vgg");
        }
        let e = import_bytes(&testdata::zip(&entries), SHAPE).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, PthError::NotTrtPose { .. }), "{text}");
        assert!(
            text.contains("0.vgg.conv1.* (1)") && text.contains("1.cmap_att.* (2)"),
            "{text}"
        );
    }

    #[test]
    fn a_layer_whose_shapes_do_not_chain_is_refused() {
        let mut entries = testdata::tiny_resnet("", 1);
        let w = entries
            .iter_mut()
            .find(|e| e.0 == "0.resnet.layer2.0.conv1.weight")
            .unwrap();
        w.1 = vec![6, 5, 3, 3];
        w.2 = vec![0.1; 6 * 5 * 9];
        let e = import_bytes(&testdata::legacy(&entries), SHAPE).unwrap_err();
        assert!(matches!(e, PthError::Shape(_)), "{e}");
        assert!(
            e.to_string()
                .contains("layer2.0.conv1.weight takes 5 channels"),
            "{e}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Real checkpoint layouts with bytes changed or cut: an error or an import, never a
        /// panic.
        #[test]
        fn damaged_checkpoints_never_panic(
            zip in proptest::prelude::any::<bool>(),
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
            cut in proptest::prelude::any::<Option<usize>>(),
        ) {
            let entries = testdata::tiny_resnet("", 1);
            let mut bytes = if zip { testdata::zip(&entries) } else { testdata::legacy(&entries) };
            // Edits land in the pickles and headers more often than in the weights.
            let hot = bytes.len().min(4096);
            for (at, v) in edits {
                let n = bytes.len();
                let at = if at % 2 == 0 { at % hot } else { at % n };
                bytes[at] = v;
            }
            if let Some(c) = cut {
                bytes.truncate(c % (bytes.len() + 1));
            }
            let _ = import_bytes(&bytes, SHAPE);
        }
    }

    #[test]
    fn empty_and_garbage_files_get_errors() {
        let shape = Shape {
            width: 224,
            height: 224,
            batch: None,
        };
        assert!(matches!(import_bytes(b"", shape), Err(PthError::Empty)));
        assert!(matches!(
            import_bytes(b"hello", shape),
            Err(PthError::NotCheckpoint)
        ));
    }
}
