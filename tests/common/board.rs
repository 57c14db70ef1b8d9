// SPDX-License-Identifier: MPL-2.0
//! A board made of files for jetsonguard and the main job: thermal zones under `sys`,
//! `meminfo` and `stat` under `proc`, each replaced atomically, as the kernel's files never
//! show half-written values.

use std::path::{Path, PathBuf};

/// 4 GB of RAM: half of it available, no swap.
pub const MEMINFO_HALF_FREE: &str =
    "MemTotal: 4194304 kB\nMemAvailable: 2097152 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n";

pub struct FakeBoard {
    dir: tempfile::TempDir,
}

impl FakeBoard {
    /// Thermal zones `(type, °C)` in order, the given meminfo, and a quiet CPU.
    pub fn new(zones: &[(&str, f32)], meminfo: &str) -> Self {
        let b = FakeBoard {
            dir: tempfile::tempdir().unwrap(),
        };
        for (i, (kind, celsius)) in zones.iter().enumerate() {
            std::fs::create_dir_all(b.zone(i)).unwrap();
            std::fs::write(b.zone(i).join("type"), format!("{kind}\n")).unwrap();
            b.set_temp(i, *celsius);
        }
        std::fs::create_dir_all(b.proc()).unwrap();
        b.write_proc("meminfo", meminfo);
        b.write_proc("stat", "cpu  100 0 100 800 0 0 0 0 0 0\n");
        b
    }

    pub fn sys(&self) -> PathBuf {
        self.dir.path().join("sys")
    }

    pub fn proc(&self) -> PathBuf {
        self.dir.path().join("proc")
    }

    pub fn zone(&self, zone: usize) -> PathBuf {
        self.sys().join(format!("class/thermal/thermal_zone{zone}"))
    }

    pub fn temp_path(&self, zone: usize) -> PathBuf {
        self.zone(zone).join("temp")
    }

    /// Replaces `path` atomically, creating its folder.
    pub fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    pub fn write_proc(&self, rel: &str, text: &str) {
        Self::write(&self.proc().join(rel), text);
    }

    pub fn write_sys(&self, rel: &str, text: &str) {
        Self::write(&self.sys().join(rel), text);
    }

    pub fn set_temp(&self, zone: usize, celsius: f32) {
        Self::write(
            &self.temp_path(zone),
            &format!("{}\n", (celsius * 1000.0) as i64),
        );
    }

    /// jetsonguard properties pointing at this board.
    pub fn props(&self) -> String {
        format!(
            "sysfs-root=\"{}\" procfs-root=\"{}\"",
            self.sys().display(),
            self.proc().display()
        )
    }
}
