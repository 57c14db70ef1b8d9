// SPDX-License-Identifier: MPL-2.0
//! Reading temperature, memory, CPU and GPU load from sysfs/procfs trees.
//!
//! Roots are parameters so tests use real files in temporary folders and containers can point
//! at mounted host paths. A missing, unreadable or garbage sensor is reported once (per file)
//! and then treated as unknown: never as zero, never as over a limit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tegrastats::{self, TegrastatsError, TegrastatsSourceError};

/// One thermal zone reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneReading {
    /// The zone's `type` (e.g. `CPU-therm`), or its folder name when `type` is unreadable.
    pub name: String,
    pub celsius: f32,
}

/// Memory figures in kB.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Memory {
    pub total_kb: u64,
    pub available_kb: u64,
    pub swap_total_kb: u64,
    pub swap_free_kb: u64,
}

impl Memory {
    pub fn used_percent(&self) -> Option<f32> {
        (self.total_kb > 0).then(|| {
            100.0 * (self.total_kb.saturating_sub(self.available_kb)) as f32 / self.total_kb as f32
        })
    }

    pub fn swap_used_percent(&self) -> Option<f32> {
        (self.swap_total_kb > 0).then(|| {
            100.0 * (self.swap_total_kb.saturating_sub(self.swap_free_kb)) as f32
                / self.swap_total_kb as f32
        })
    }
}

/// Everything one sample knows; `None` = unknown.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    pub zones: Vec<ZoneReading>,
    /// Hottest selected zone.
    pub temperature: Option<f32>,
    pub memory: Option<Memory>,
    /// cgroup v2 `(memory.current, memory.max)` in bytes when a limit is set.
    pub cgroup: Option<(u64, u64)>,
    /// PSI `some avg10` of memory.
    pub memory_pressure: Option<f32>,
    pub cpu_percent: Option<f32>,
    pub gpu_percent: Option<f32>,
}

impl Reading {
    /// Memory use in percent: the cgroup's when it has a limit, else the machine's.
    pub fn memory_percent(&self) -> Option<f32> {
        match self.cgroup {
            Some((current, max)) if max > 0 => Some(100.0 * current as f32 / max as f32),
            _ => self.memory.and_then(|m| m.used_percent()),
        }
    }
}

/// Why a sensor file gave no text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("missing")]
    Missing,
    // Arc: warnings are cloned, io::Error is not Clone.
    #[error("unreadable ({0})")]
    Unreadable(Arc<std::io::Error>),
}

/// Why a thermal zone's `temp` is not a temperature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemperatureError {
    /// Millidegrees outside -50..=200 °C: a broken sensor.
    #[error("implausible value {0}")]
    Implausible(i64),
    /// The text (first 40 characters) is not an integer.
    #[error("not a millidegree number: {0:?}")]
    NotANumber(String),
}

/// What is wrong with one sensor; shown after its path in a [`SensorWarning`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum SensorError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Temperature(#[from] TemperatureError),
    #[error("no thermal zones ({0})")]
    NoThermalFolder(Arc<std::io::Error>),
    #[error("no thermal_zone* folders")]
    NoThermalZones,
    #[error("no MemTotal/MemAvailable lines")]
    NoMemoryLines,
    #[error("no 'cpu' line")]
    NoCpuLine,
    /// The text (first 40 characters) of a GPU load file that is not 0–1000.
    #[error("not a 0-1000 load: {0:?}")]
    NotALoad(String),
    #[error(transparent)]
    Tegrastats(#[from] TegrastatsError),
    #[error("not updated for {0} s (is tegrastats still running?)")]
    StaleTegrastats(u64),
}

impl From<TegrastatsSourceError> for SensorError {
    fn from(e: TegrastatsSourceError) -> Self {
        match e {
            TegrastatsSourceError::Read(e) => SensorError::Read(e),
            TegrastatsSourceError::Parse(e) => SensorError::Tegrastats(e),
            TegrastatsSourceError::Stale(age_s) => SensorError::StaleTegrastats(age_s),
        }
    }
}

/// A sensor problem, reported once per file.
#[derive(Debug, Clone)]
pub struct SensorWarning {
    pub path: PathBuf,
    pub problem: SensorError,
}

impl std::fmt::Display for SensorWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sensor {}: {}; treated as unknown",
            self.path.display(),
            self.problem
        )
    }
}

/// Where Jetsons expose GPU load (0–1000), in the order tried.
const GPU_LOAD_PATHS: [&str; 5] = [
    "devices/gpu.0/load",
    "devices/platform/gpu.0/load",
    "devices/17000000.gv11b/load",
    "devices/17000000.gp10b/load",
    "devices/platform/17000000.gpu/load",
];

/// `*` and `?` glob match, case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn rec(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&p[1..], t) || (!t.is_empty() && rec(p, &t[1..])),
            (Some(b'?'), Some(_)) => rec(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &t[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), text.as_bytes())
}

/// Samples sensors; keeps the previous CPU counters for load deltas.
#[derive(Debug)]
pub struct Sampler {
    sysfs: PathBuf,
    procfs: PathBuf,
    /// Zone selection: names or globs; empty = all zones.
    zone_patterns: Vec<String>,
    prev_cpu: Option<(u64, u64)>,
    warned: HashSet<PathBuf>,
    /// A log `tegrastats --logfile` appends to; its last line fills what sysfs/procfs lack.
    tegrastats: Option<PathBuf>,
}

fn read_trimmed(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::Missing,
            _ => ReadError::Unreadable(Arc::new(e)),
        })
}

/// MemTotal/MemAvailable/Swap* from `/proc/meminfo` text.
pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(':'))
            .and_then(|l| l[name.len() + 1..].split_whitespace().next()?.parse().ok())
    };
    Some(Memory {
        total_kb: field("MemTotal")?,
        available_kb: field("MemAvailable")?,
        // Machines without swap may still list it as 0; missing lines mean no swap.
        swap_total_kb: field("SwapTotal").unwrap_or(0),
        swap_free_kb: field("SwapFree").unwrap_or(0),
    })
}

/// `(total, idle)` jiffies from the first line of `/proc/stat`.
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    if values.len() < 4 {
        return None;
    }
    // idle + iowait count as idle; guest time is already inside user time.
    // Saturating: a corrupt file must not overflow.
    let idle = values[3].saturating_add(values.get(4).copied().unwrap_or(0));
    let total = values
        .iter()
        .take(8)
        .fold(0u64, |a, &v| a.saturating_add(v));
    Some((total, idle))
}

/// `some avg10` of a PSI file.
pub fn parse_psi_some_avg10(text: &str) -> Option<f32> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("avg10="))?
        .parse()
        .ok()
}

impl Sampler {
    pub fn new(sysfs: impl Into<PathBuf>, procfs: impl Into<PathBuf>, zones: &str) -> Self {
        Sampler {
            sysfs: sysfs.into(),
            procfs: procfs.into(),
            zone_patterns: zones
                .split(',')
                .map(str::trim)
                .filter(|z| !z.is_empty())
                .map(String::from)
                .collect(),
            prev_cpu: None,
            warned: HashSet::new(),
            tegrastats: None,
        }
    }

    /// Also reads the last line of a `tegrastats --logfile` log, for figures sysfs/procfs did
    /// not give (they stay first: they are read at the moment, the log up to a second late).
    pub fn with_tegrastats(mut self, path: impl Into<PathBuf>) -> Self {
        self.tegrastats = Some(path.into());
        self
    }

    fn warn(
        &mut self,
        warnings: &mut Vec<SensorWarning>,
        path: PathBuf,
        problem: impl Into<SensorError>,
    ) {
        if self.warned.insert(path.clone()) {
            warnings.push(SensorWarning {
                path,
                problem: problem.into(),
            });
        }
    }

    /// Reads everything once. Warnings are new problems only (one per file).
    pub fn sample(&mut self) -> (Reading, Vec<SensorWarning>) {
        let mut warnings = Vec::new();
        let mut r = Reading::default();
        self.sample_thermal(&mut r, &mut warnings);
        self.sample_memory(&mut r, &mut warnings);
        self.sample_cpu(&mut r, &mut warnings);
        self.sample_gpu(&mut r, &mut warnings);
        self.sample_tegrastats(&mut r, &mut warnings);
        (r, warnings)
    }

    /// Fills the figures still unknown from the tegrastats log, if one is set.
    fn sample_tegrastats(&mut self, r: &mut Reading, warnings: &mut Vec<SensorWarning>) {
        // CPU load from procfs is unknown on the first sample by design (it needs a delta);
        // only a missing /proc/stat leaves it to tegrastats.
        let cpu_missing = self.prev_cpu.is_none();
        let missing = r.zones.is_empty() || r.memory.is_none() || r.gpu_percent.is_none();
        let Some(path) = self.tegrastats.clone().filter(|_| missing || cpu_missing) else {
            return;
        };
        let t = match tegrastats::read_last_line(&path) {
            Ok(t) => t,
            Err(problem) => {
                self.warn(warnings, path, problem);
                return;
            }
        };
        if r.zones.is_empty() {
            r.zones = t
                .zones
                .iter()
                .filter(|z| self.selected(&z.name, &z.name))
                .cloned()
                .collect();
            r.temperature = hottest(&r.zones);
        }
        r.memory = r.memory.or_else(|| t.memory());
        if cpu_missing {
            r.cpu_percent = r.cpu_percent.or_else(|| t.cpu_percent());
        }
        r.gpu_percent = r.gpu_percent.or(t.gpu_percent);
    }

    /// Whether the zone selection includes a zone by its type or folder name.
    fn selected(&self, name: &str, folder: &str) -> bool {
        self.zone_patterns.is_empty()
            || self
                .zone_patterns
                .iter()
                .any(|p| glob_match(p, name) || glob_match(p, folder))
    }

    fn sample_thermal(&mut self, r: &mut Reading, warnings: &mut Vec<SensorWarning>) {
        let dir = self.sysfs.join("class/thermal");
        let mut zones: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("thermal_zone"))
                })
                .collect(),
            Err(e) => {
                self.warn(warnings, dir, SensorError::NoThermalFolder(Arc::new(e)));
                return;
            }
        };
        zones.sort();
        if zones.is_empty() {
            self.warn(warnings, dir, SensorError::NoThermalZones);
            return;
        }
        for zone in zones {
            let folder = zone
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = read_trimmed(&zone.join("type")).unwrap_or(folder.clone());
            if !self.selected(&name, &folder) {
                continue;
            }
            let temp_path = zone.join("temp");
            match read_trimmed(&temp_path) {
                Ok(text) => match parse_millidegrees(&text) {
                    Ok(celsius) => r.zones.push(ZoneReading { name, celsius }),
                    Err(problem) => self.warn(warnings, temp_path, problem),
                },
                Err(problem) => self.warn(warnings, temp_path, problem),
            }
        }
        r.temperature = hottest(&r.zones);
    }

    fn sample_memory(&mut self, r: &mut Reading, warnings: &mut Vec<SensorWarning>) {
        let meminfo = self.procfs.join("meminfo");
        match read_trimmed(&meminfo) {
            Ok(text) => match parse_meminfo(&text) {
                Some(m) => r.memory = Some(m),
                None => self.warn(warnings, meminfo, SensorError::NoMemoryLines),
            },
            Err(problem) => self.warn(warnings, meminfo, problem),
        }
        // PSI and cgroup limits exist only on some kernels and containers: optional.
        if let Ok(text) = read_trimmed(&self.procfs.join("pressure/memory")) {
            r.memory_pressure = parse_psi_some_avg10(&text);
        }
        if let Ok(text) = read_trimmed(&self.procfs.join("self/cgroup")) {
            let rel = text
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let base = self.sysfs.join("fs/cgroup").join(rel);
            let max = read_trimmed(&base.join("memory.max")).ok();
            let current = read_trimmed(&base.join("memory.current")).ok();
            if let (Some(max), Some(current)) = (max, current)
                && let (Ok(max), Ok(current)) = (max.parse::<u64>(), current.parse::<u64>())
            {
                // "max" (no limit) fails to parse and leaves the machine's figures in charge.
                r.cgroup = Some((current, max));
            }
        }
    }

    fn sample_cpu(&mut self, r: &mut Reading, warnings: &mut Vec<SensorWarning>) {
        let stat = self.procfs.join("stat");
        match read_trimmed(&stat) {
            Ok(text) => match parse_stat(&text) {
                Some((total, idle)) => {
                    if let Some((pt, pi)) = self.prev_cpu
                        && total > pt
                    {
                        let busy = (total - pt).saturating_sub(idle.saturating_sub(pi));
                        r.cpu_percent = Some(100.0 * busy as f32 / (total - pt) as f32);
                    }
                    self.prev_cpu = Some((total, idle));
                }
                None => self.warn(warnings, stat, SensorError::NoCpuLine),
            },
            Err(problem) => self.warn(warnings, stat, problem),
        }
    }

    fn sample_gpu(&mut self, r: &mut Reading, warnings: &mut Vec<SensorWarning>) {
        for rel in GPU_LOAD_PATHS {
            let path = self.sysfs.join(rel);
            if !path.exists() {
                continue;
            }
            match read_trimmed(&path).map(|t| (t.parse::<u32>(), t)) {
                Ok((Ok(v), _)) if v <= 1000 => r.gpu_percent = Some(v as f32 / 10.0),
                Ok((_, text)) => self.warn(warnings, path, SensorError::NotALoad(truncate(&text))),
                Err(problem) => self.warn(warnings, path, problem),
            }
            return;
        }
    }
}

fn hottest(zones: &[ZoneReading]) -> Option<f32> {
    zones
        .iter()
        .map(|z| z.celsius)
        .fold(None, |m: Option<f32>, t| Some(m.map_or(t, |m| m.max(t))))
}

/// A thermal zone's `temp` (millidegrees) in °C; rejects garbage and implausible values.
pub fn parse_millidegrees(text: &str) -> Result<f32, TemperatureError> {
    match text.trim().parse::<i64>() {
        // Below -50 °C or above 200 °C is a broken sensor.
        Ok(milli) if (-50_000..=200_000).contains(&milli) => Ok(milli as f32 / 1000.0),
        Ok(milli) => Err(TemperatureError::Implausible(milli)),
        Err(_) => Err(TemperatureError::NotANumber(truncate(text.trim()))),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_formats() {
        let m = parse_meminfo(
            "MemTotal:        4000000 kB\nMemFree: 1 kB\nMemAvailable:    1000000 kB\nSwapTotal: 2000000 kB\nSwapFree: 1500000 kB\n",
        )
        .unwrap();
        assert_eq!(m.used_percent(), Some(75.0));
        assert_eq!(m.swap_used_percent(), Some(25.0));
        assert!(parse_meminfo("garbage").is_none());
        assert_eq!(
            parse_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4"),
            Some((1000, 850))
        );
        assert!(parse_stat("intr 1 2 3").is_none());
        let huge = format!("cpu {} {} 0 {} 1", u64::MAX, u64::MAX, u64::MAX);
        assert_eq!(parse_stat(&huge), Some((u64::MAX, u64::MAX)));
        assert_eq!(
            parse_psi_some_avg10(
                "some avg10=1.50 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0"
            ),
            Some(1.5)
        );
    }

    #[test]
    fn problems_are_typed_and_read_as_before() {
        assert_eq!(parse_millidegrees(" 45500\n"), Ok(45.5));
        assert_eq!(
            parse_millidegrees("250000"),
            Err(TemperatureError::Implausible(250_000))
        );
        let garbage = parse_millidegrees(&"x".repeat(50)).unwrap_err();
        assert_eq!(garbage, TemperatureError::NotANumber("x".repeat(40)));
        assert_eq!(
            garbage.to_string(),
            format!("not a millidegree number: \"{}\"", "x".repeat(40))
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = read_trimmed(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, ReadError::Missing));
        let unreadable = read_trimmed(dir.path()).unwrap_err();
        assert!(matches!(unreadable, ReadError::Unreadable(_)));
        assert!(
            unreadable.to_string().starts_with("unreadable ("),
            "{unreadable}"
        );
        let w = SensorWarning {
            path: "/sys/x/temp".into(),
            problem: missing.into(),
        };
        assert_eq!(
            w.to_string(),
            "sensor /sys/x/temp: missing; treated as unknown"
        );
    }

    #[test]
    fn empty_roots_warn_once_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sampler::new(dir.path(), dir.path(), "");
        let (r, warnings) = s.sample();
        assert_eq!(r, Reading::default());
        let problems: Vec<String> = warnings.iter().map(|w| w.problem.to_string()).collect();
        assert!(matches!(
            warnings[0].problem,
            SensorError::NoThermalFolder(_)
        ));
        assert!(
            problems[0].starts_with("no thermal zones ("),
            "{problems:?}"
        );
        assert_eq!(problems[1..], ["missing", "missing"]);
        assert!(s.sample().1.is_empty());
    }

    #[test]
    fn tegrastats_fills_only_what_sysfs_and_procfs_lack() {
        let dir = tempfile::tempdir().unwrap();
        let (sys, proc) = (dir.path().join("sys"), dir.path().join("proc"));
        std::fs::create_dir_all(&sys).unwrap();
        std::fs::create_dir_all(&proc).unwrap();
        // procfs has memory and CPU; sysfs has no thermal zones and no GPU load.
        std::fs::write(
            proc.join("meminfo"),
            "MemTotal: 4000000 kB\nMemAvailable: 1000000 kB\n",
        )
        .unwrap();
        std::fs::write(proc.join("stat"), "cpu 100 0 0 100 0\n").unwrap();
        let log = dir.path().join("tegrastats.log");
        std::fs::write(
            &log,
            "RAM 1000/4000MB CPU [90%@1479,off] GR3D_FREQ 10% CPU@40C GPU@38.5C\n\
             RAM 3000/4000MB CPU [80%@1479,off] GR3D_FREQ 42%@[305] CPU@61.5C GPU@58C\n",
        )
        .unwrap();
        let mut s = Sampler::new(&sys, &proc, "GPU*").with_tegrastats(&log);
        let (r, warnings) = s.sample();
        // sysfs/procfs figures stay; tegrastats gives the zones (selection applied) and GPU.
        assert_eq!(r.memory.unwrap().total_kb, 4_000_000);
        assert_eq!(r.memory_percent(), Some(75.0));
        assert_eq!(r.cpu_percent, None);
        assert_eq!(r.gpu_percent, Some(42.0));
        assert_eq!(
            r.zones,
            [ZoneReading {
                name: "GPU".into(),
                celsius: 58.0
            }]
        );
        assert_eq!(r.temperature, Some(58.0));
        // Only the missing thermal folder is reported; the log filled the rest.
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        // A log that goes bad is reported once, typed, and its figures become unknown.
        std::fs::write(&log, "garbage\n").unwrap();
        let (r, warnings) = s.sample();
        assert_eq!((r.gpu_percent, r.temperature), (None, None));
        assert!(matches!(
            warnings[0].problem,
            SensorError::Tegrastats(TegrastatsError::NotTegrastats(_))
        ));
        assert!(s.sample().1.is_empty());
        // Without /proc/stat the CPU load comes from the log too.
        std::fs::remove_file(proc.join("stat")).unwrap();
        std::fs::write(&log, "CPU [20%@1479,40%@1479]\n").unwrap();
        let mut s = Sampler::new(&sys, &proc, "").with_tegrastats(&log);
        assert_eq!(s.sample().0.cpu_percent, Some(30.0));
    }

    #[test]
    fn globs() {
        assert!(glob_match("GPU-therm", "GPU-therm"));
        assert!(glob_match("*-therm", "CPU-therm"));
        assert!(glob_match("thermal_zone?", "thermal_zone3"));
        assert!(!glob_match("GPU*", "CPU-therm"));
    }
}
