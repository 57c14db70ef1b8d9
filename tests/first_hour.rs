// SPDX-License-Identifier: MPL-2.0
//! A new user's first hour: the tools and the installed plugin find ONNX Runtime and the
//! default model at run time from any folder, in a clean environment, and say where they
//! looked when they cannot. Every command here runs with a cleared environment and its own
//! HOME, so nothing of this machine's set-up leaks in.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A command with nothing from our environment but a PATH, and `home` as HOME.
fn clean(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("HOME", home)
        .env(
            "PATH",
            format!("{}/.local/bin:/usr/bin:/bin", home.display()),
        )
        .current_dir(home);
    c
}

fn run(c: &mut Command) -> (Output, String) {
    let o = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    let text = common::output_text(&o);
    (o, text)
}

/// The plugin and tools this test binary was built with, laid out as a build folder.
fn build_dir(into: &Path) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let plugin = deps.parent().unwrap().join("libgsttrtpose.so");
    assert!(plugin.exists(), "{} missing", plugin.display());
    let dir = into.join("build");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&plugin, dir.join("libgsttrtpose.so")).unwrap();
    for (name, exe) in [
        ("trtpose-run", env!("CARGO_BIN_EXE_trtpose-run")),
        ("trtposeconvert", env!("CARGO_BIN_EXE_trtposeconvert")),
    ] {
        std::fs::copy(exe, dir.join(name)).unwrap();
    }
    dir
}

/// A folder holding the default model only.
fn default_model_dir(into: &Path) -> PathBuf {
    let dir = into.join("models");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(
        common::model("movenet-multipose.onnx"),
        dir.join("movenet-multipose.onnx"),
    )
    .unwrap();
    dir
}

#[test]
fn trtpose_run_help_goes_to_stdout_and_exits_0() {
    let home = tempfile::tempdir().unwrap();
    let (o, text) = run(clean(env!("CARGO_BIN_EXE_trtpose-run"), home.path()).arg("--help"));
    assert!(o.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("Usage: trtpose-run") && stdout.contains("--frames"),
        "{stdout}"
    );
    // A wrong option is still an error, on stderr.
    let (o, _) = run(clean(env!("CARGO_BIN_EXE_trtpose-run"), home.path()).arg("--nope"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--nope"));
}

#[test]
fn installed_plugin_and_tools_work_in_a_clean_shell_from_any_folder() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let build = build_dir(h);
    let models = default_model_dir(h);
    let install = common::manifest_dir().join("scripts/install.sh");
    let (o, text) = run(clean(&install, h)
        .arg("--build-dir")
        .arg(&build)
        .arg("--models")
        .arg(&models));
    assert!(o.status.success(), "install: {text}");
    let plugin = h.join(".local/share/gstreamer-1.0/plugins/libgsttrtpose.so");
    let ort = h.join(".local/share/gst-trtpose/lib");
    for p in [
        plugin.clone(),
        h.join(".local/bin/trtpose-run"),
        h.join(".local/share/gst-trtpose/models/movenet-multipose.onnx"),
        h.join(".config/gst-trtpose/config.toml"),
    ] {
        assert!(p.is_file(), "{} not installed: {text}", p.display());
    }
    assert!(std::fs::read_dir(&ort).unwrap().count() == 1, "{text}");
    std::fs::remove_dir_all(&build).unwrap();

    // gst-inspect-1.0 finds the plugin with no GST_PLUGIN_PATH; its docs are there.
    let (o, text) = run(clean("gst-inspect-1.0", h).arg("trtposeinfer"));
    assert!(o.status.success(), "gst-inspect: {text}");
    assert!(
        text.contains("Pose estimation") && text.contains("input-size"),
        "{text}"
    );
    // The origin is a URL or nothing, never the package name.
    let origin = text
        .lines()
        .find(|l| l.contains("Origin URL"))
        .unwrap_or_default();
    assert!(!origin.contains("gst-trtpose"), "{origin}");
    // gst-launch-1.0 with the default model, from the home folder.
    let (o, text) = run(clean("gst-launch-1.0", h).args([
        "videotestsrc",
        "num-buffers=3",
        "!",
        "video/x-raw,width=160,height=120",
        "!",
        "trtposeinfer",
        "!",
        "fakesink",
    ]));
    assert!(o.status.success(), "gst-launch: {text}");
    // trtpose-run from another folder, by name on PATH.
    let work = h.join("elsewhere");
    std::fs::create_dir_all(&work).unwrap();
    let video = work.join("clip.mp4");
    std::fs::copy(common::media("vtest_walk_10s.mp4"), &video).unwrap();
    let (o, text) = run(clean("trtpose-run", h)
        .current_dir(&work)
        .args(["--frames", "30", "--input-size", "256"])
        .arg(&video));
    assert!(o.status.success(), "trtpose-run: {text}");
    assert!(
        text.contains("done: ") && text.contains("backend cpu"),
        "{text}"
    );
    assert!(
        work.join("clip_pose.jsonl").is_file(),
        "no JSON beside the video: {text}"
    );

    // Uninstall removes what install put there.
    let (o, text) = run(clean(&install, h).arg("--uninstall"));
    assert!(o.status.success(), "uninstall: {text}");
    assert!(
        !plugin.exists() && !h.join(".local/bin/trtpose-run").exists(),
        "{text}"
    );
    assert!(
        !h.join(".config/gst-trtpose/config.toml").exists(),
        "{text}"
    );
}

#[test]
fn without_runtime_or_model_the_errors_name_the_places_searched() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let video = common::media("vtest_walk_10s.mp4");
    // No model anywhere: the default-model search is listed.
    let (o, text) = run(clean(env!("CARGO_BIN_EXE_trtpose-run"), h)
        .arg(&video)
        .arg("--output")
        .arg(h.join("out.mp4"))
        .env("ORT_DYLIB_PATH", common::runtime().library()));
    assert!(!o.status.success(), "{text}");
    for needle in [
        "movenet-multipose.onnx not found",
        ".local/share/gst-trtpose/models",
        "/usr/share/gst-trtpose/models",
        "scripts/setup.sh",
    ] {
        assert!(text.contains(needle), "'{needle}' missing from: {text}");
    }
    // A model but no ONNX Runtime configured: every place is listed, unless the system has
    // one installed (then it is found and used).
    let system_ort = ["/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib"]
        .iter()
        .any(|d| {
            std::fs::read_dir(d).is_ok_and(|rd| {
                rd.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("libonnxruntime.so")
                })
            })
        });
    let (o, text) = run(clean(env!("CARGO_BIN_EXE_trtpose-run"), h)
        .arg(&video)
        .args(["--frames", "3", "--output"])
        .arg(h.join("out.mp4"))
        .arg("--model")
        .arg(common::model("movenet-multipose.onnx")));
    if system_ort {
        assert!(o.status.success(), "{text}");
    } else {
        assert!(!o.status.success(), "{text}");
        for needle in [
            "ONNX Runtime library not found",
            "ORT_DYLIB_PATH (unset)",
            ".config/gst-trtpose/config.toml",
            "/usr/local/lib",
            "1.31",
        ] {
            assert!(text.contains(needle), "'{needle}' missing from: {text}");
        }
    }
    // The element without a model names the search too (in the debug detail).
    let plugin_dir = build_dir(h);
    let (o, text) = run(clean("gst-launch-1.0", h)
        .env("GST_PLUGIN_PATH", &plugin_dir)
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .args([
            "videotestsrc",
            "num-buffers=1",
            "!",
            "trtposeinfer",
            "!",
            "fakesink",
        ]));
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("No model set") && text.contains("movenet-multipose.onnx not found"),
        "{text}"
    );
}
