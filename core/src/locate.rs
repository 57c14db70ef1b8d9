// SPDX-License-Identifier: MPL-2.0
//! Where ONNX Runtime and the models are, found at run time in one documented order, so a
//! plain `cargo build`, an installed plugin and a tool run from any folder all find them.
//!
//! ONNX Runtime: the explicit setting (`ort-library`, `--ort-library`), `ORT_DYLIB_PATH`, the
//! config file that set-up or install writes, then the system's library folders.
//! Models: `TRTPOSE_MODEL` (a file), `TRTPOSE_MODELS` (a folder), the config file's `models`,
//! then `$XDG_DATA_HOME/gst-trtpose/models` (`~/.local/share/…`), `/usr/local/share/…` and
//! `/usr/share/gst-trtpose/models`.
//!
//! The config file is `$TRTPOSE_CONFIG`, else `$XDG_CONFIG_HOME/gst-trtpose/config.toml`
//! (`~/.config/…`), else `/etc/gst-trtpose/config.toml`:
//!
//! ```toml
//! ort_library = "/home/me/gst-trtpose/.venv/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime.so.1.31.1"
//! models = "/home/me/gst-trtpose/data/models"
//! ```

use std::path::{Path, PathBuf};

/// The model `trtposeinfer` and `trtpose-run` use when none is named.
pub const DEFAULT_MODEL: &str = "movenet-multipose.onnx";

/// The ONNX Runtime release set-up installs and the tests run against.
pub const ORT_VERSION: &str = "1.31";

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("config file {path}: {reason}")]
    BadConfig { path: PathBuf, reason: String },
    #[error(
        "ONNX Runtime library not found; looked in: {}. Install ONNX Runtime {ORT_VERSION} (scripts/setup.sh does, \
         or `pip install onnxruntime==1.31.1`) and set ORT_DYLIB_PATH or the 'ort-library' setting to its \
         libonnxruntime.so (an absolute path)", searched.join("; ")
    )]
    OrtNotFound { searched: Vec<String> },
    #[error(
        "model {name} not found; looked in: {}. Run scripts/setup.sh (it fetches the default models), \
         or name a model file", searched.join("; ")
    )]
    ModelNotFound { name: String, searched: Vec<String> },
}

/// What set-up or install recorded.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub ort_library: Option<PathBuf>,
    pub models: Option<PathBuf>,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    env_path(var).or_else(|| env_path("HOME").map(|h| h.join(fallback)))
}

/// Config files in the order they are tried.
pub fn config_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = env_path("TRTPOSE_CONFIG") {
        v.push(p);
    }
    if let Some(d) = home_dir("XDG_CONFIG_HOME", ".config") {
        v.push(d.join("gst-trtpose/config.toml"));
    }
    v.push(PathBuf::from("/etc/gst-trtpose/config.toml"));
    v
}

/// The first config file that exists, parsed; `Ok(None)` when there is none.
pub fn config() -> Result<Option<(PathBuf, Config)>, LocateError> {
    let Some(path) = config_candidates().into_iter().find(|p| p.is_file()) else {
        return Ok(None);
    };
    let bad = |reason: String| LocateError::BadConfig {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let config: Config = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    Ok(Some((path, config)))
}

/// Library folders of the system loader, as far as a process can see them.
fn system_lib_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    let arch = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
    for d in ["/usr/local/lib", &arch, "/usr/lib", "/usr/lib64"] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// An ONNX Runtime library in `dir`: the unversioned name, else the newest versioned one.
fn ort_in(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join("libonnxruntime.so");
    if plain.is_file() {
        return Some(plain);
    }
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so."))
                && p.is_file()
        })
        .collect();
    versioned.sort();
    versioned.pop()
}

/// The ONNX Runtime library to load and where that choice came from. A configured path is
/// used as it is, even when it is wrong, so the error names the setting rather than silently
/// loading another library; only the system search looks for one that exists.
pub fn ort_library(explicit: Option<&Path>) -> Result<(PathBuf, String), LocateError> {
    if let Some(p) = explicit {
        return Ok((p.to_path_buf(), "the ort-library setting".into()));
    }
    if let Some(p) = env_path("ORT_DYLIB_PATH") {
        return Ok((p, "ORT_DYLIB_PATH".into()));
    }
    let mut searched = vec![
        "the ort-library setting (unset)".to_string(),
        "ORT_DYLIB_PATH (unset)".to_string(),
    ];
    match config()? {
        Some((
            path,
            Config {
                ort_library: Some(lib),
                ..
            },
        )) => return Ok((lib, format!("ort_library in {}", path.display()))),
        Some((path, _)) => searched.push(format!("{} (no ort_library)", path.display())),
        None => searched.push(format!(
            "config files {} (none exists)",
            join(&config_candidates())
        )),
    }
    let dirs = system_lib_dirs();
    if let Some(p) = dirs.iter().find_map(|d| ort_in(d)) {
        return Ok((p, "the system library folders".into()));
    }
    searched.push(format!("system library folders {}", join(&dirs)));
    Err(LocateError::OrtNotFound { searched })
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Folders searched for models by name, in order, with where each came from.
pub fn model_dirs() -> Result<Vec<(PathBuf, &'static str)>, LocateError> {
    let mut dirs = Vec::new();
    if let Some(d) = env_path("TRTPOSE_MODELS") {
        dirs.push((d, "TRTPOSE_MODELS"));
    }
    if let Some((
        _,
        Config {
            models: Some(d), ..
        },
    )) = config()?
    {
        dirs.push((d, "the config file"));
    }
    if let Some(d) = home_dir("XDG_DATA_HOME", ".local/share") {
        dirs.push((d.join("gst-trtpose/models"), "the user's data folder"));
    }
    for d in [
        "/usr/local/share/gst-trtpose/models",
        "/usr/share/gst-trtpose/models",
    ] {
        dirs.push((PathBuf::from(d), "the system data folder"));
    }
    Ok(dirs)
}

/// The model file `name` from the model folders.
pub fn model(name: &str) -> Result<PathBuf, LocateError> {
    let dirs = model_dirs()?;
    if let Some(p) = dirs.iter().map(|(d, _)| d.join(name)).find(|p| p.is_file()) {
        return Ok(p);
    }
    Err(LocateError::ModelNotFound {
        name: name.into(),
        searched: dirs
            .iter()
            .map(|(d, why)| format!("{} ({why})", d.display()))
            .collect(),
    })
}

/// The model to use when none is named: `TRTPOSE_MODEL`, else [`DEFAULT_MODEL`] from the
/// model folders.
pub fn default_model() -> Result<PathBuf, LocateError> {
    if let Some(p) = env_path("TRTPOSE_MODEL") {
        return Ok(p);
    }
    model(DEFAULT_MODEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_rejects_unknown_keys() {
        let c: Config = toml::from_str("ort_library = \"/x/lib.so\"\nmodels = \"/m\"").unwrap();
        assert_eq!(c.ort_library.as_deref(), Some(Path::new("/x/lib.so")));
        assert_eq!(c.models.as_deref(), Some(Path::new("/m")));
        assert!(toml::from_str::<Config>("ort_libary = \"/x\"").is_err());
    }

    #[test]
    fn versioned_library_is_found_in_a_folder() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(ort_in(d.path()), None);
        std::fs::write(d.path().join("libonnxruntime.so.1.31.1"), b"x").unwrap();
        assert_eq!(
            ort_in(d.path()),
            Some(d.path().join("libonnxruntime.so.1.31.1"))
        );
        std::fs::write(d.path().join("libonnxruntime.so"), b"x").unwrap();
        assert_eq!(ort_in(d.path()), Some(d.path().join("libonnxruntime.so")));
    }
}
