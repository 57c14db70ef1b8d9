// SPDX-License-Identifier: MPL-2.0
//! Parsing `tegrastats` lines, a second sensor source on Jetsons for figures sysfs/procfs do
//! not give (containers without the GPU's load file, kernels that hide thermal zones).
//!
//! The line is a sequence of `NAME value` pairs and `name@valueC` temperatures; fields differ
//! between JetPack 4, 5 and 6, so unknown fields are skipped rather than rejected.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::sensors::{Memory, ReadError, ZoneReading};

/// What one tegrastats line says; `None`/empty = the line did not have it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TegraStats {
    /// `RAM used/total` in MB.
    pub ram_mb: Option<(u64, u64)>,
    /// `SWAP used/total` in MB.
    pub swap_mb: Option<(u64, u64)>,
    /// Per-CPU load in percent; `None` for a core that is `off`.
    pub cpu_loads: Vec<Option<f32>>,
    /// `GR3D_FREQ` load in percent.
    pub gpu_percent: Option<f32>,
    /// `name@valueC` temperatures; powered-off sensors (-256C) are left out.
    pub zones: Vec<ZoneReading>,
}

/// Why a tegrastats line gave no figures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TegrastatsError {
    /// The file holds no line yet (tegrastats has not written one).
    #[error("no tegrastats line yet")]
    Empty,
    /// A known field whose value is not in the expected form (value: first 40 characters).
    #[error("bad {field} value {text:?}")]
    BadValue { field: &'static str, text: String },
    /// None of RAM, SWAP, CPU, GR3D_FREQ or temperatures (the line: first 40 characters).
    #[error("not a tegrastats line: {0:?}")]
    NotTegrastats(String),
}

/// Why the tegrastats file gave no figures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TegrastatsSourceError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Parse(#[from] TegrastatsError),
    /// Not written to for longer than [`STALE_AFTER`]: tegrastats has stopped, and its last
    /// line is history, not the board now.
    #[error("not updated for {0} s (is tegrastats still running?)")]
    Stale(u64),
}

/// A log older than this is stale. tegrastats writes every second by default; 30 s allows a
/// long `--interval` without trusting a log whose writer has died.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn bad(field: &'static str, text: &str) -> TegrastatsError {
    TegrastatsError::BadValue {
        field,
        text: truncate(text),
    }
}

/// `used/totalMB` (also kB and GB, seen on older releases) in MB.
fn parse_used_total(field: &'static str, text: &str) -> Result<(u64, u64), TegrastatsError> {
    let (number, per_mb) = if let Some(n) = text.strip_suffix("MB") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("kB") {
        (n, 1.0 / 1024.0)
    } else if let Some(n) = text.strip_suffix("GB") {
        (n, 1024.0)
    } else {
        return Err(bad(field, text));
    };
    let (used, total) = number.split_once('/').ok_or_else(|| bad(field, text))?;
    let mb = |s: &str| s.parse::<f64>().map(|v| (v * per_mb).round() as u64);
    match (mb(used), mb(total)) {
        (Ok(u), Ok(t)) if u <= t => Ok((u, t)),
        _ => Err(bad(field, text)),
    }
}

/// `[12%@1479,8%@1479,off,off]` (the `@MHz` part is optional).
fn parse_cpus(text: &str) -> Result<Vec<Option<f32>>, TegrastatsError> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| bad("CPU", text))?;
    inner
        .split(',')
        .map(|core| match core {
            "off" => Ok(None),
            _ => parse_percent(core.split('@').next().unwrap_or(""))
                .map(Some)
                .ok_or_else(|| bad("CPU", text)),
        })
        .collect()
}

/// `25%`, `25%@1377` or `25%@[305,305]`: the load before `@`.
fn parse_percent(text: &str) -> Option<f32> {
    let v: f32 = text.split('@').next()?.strip_suffix('%')?.parse().ok()?;
    (0.0..=100.0).contains(&v).then_some(v)
}

/// `CPU@37.5C`: a zone; `None` for anything else, and for the -256C of powered-off sensors.
fn parse_temperature(token: &str) -> Option<ZoneReading> {
    let (name, value) = token.split_once('@')?;
    let celsius: f32 = value.strip_suffix('C')?.parse().ok()?;
    let named = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    // The same plausible range as sysfs zones: -50..=200 °C.
    (named && (-50.0..=200.0).contains(&celsius)).then(|| ZoneReading {
        name: name.to_string(),
        celsius,
    })
}

/// One tegrastats line (JetPack 4, 5 or 6).
pub fn parse_line(line: &str) -> Result<TegraStats, TegrastatsError> {
    let line = line.trim();
    if line.is_empty() {
        return Err(TegrastatsError::Empty);
    }
    let mut s = TegraStats::default();
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut i = 0;
    while i < tokens.len() {
        let next = tokens.get(i + 1).copied().unwrap_or("");
        match tokens[i] {
            "RAM" => s.ram_mb = Some(parse_used_total("RAM", next)?),
            "SWAP" => s.swap_mb = Some(parse_used_total("SWAP", next)?),
            "CPU" if next.starts_with('[') => s.cpu_loads = parse_cpus(next)?,
            "GR3D_FREQ" => {
                s.gpu_percent = Some(parse_percent(next).ok_or_else(|| bad("GR3D_FREQ", next))?)
            }
            token => {
                if let Some(z) = parse_temperature(token) {
                    s.zones.push(z);
                }
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if s == TegraStats::default() {
        return Err(TegrastatsError::NotTegrastats(truncate(line)));
    }
    Ok(s)
}

impl TegraStats {
    /// Memory as `/proc/meminfo` would give it (available = total - used).
    pub fn memory(&self) -> Option<Memory> {
        let (used, total) = self.ram_mb?;
        let (swap_used, swap_total) = self.swap_mb.unwrap_or((0, 0));
        Some(Memory {
            total_kb: total * 1024,
            available_kb: (total - used) * 1024,
            swap_total_kb: swap_total * 1024,
            swap_free_kb: (swap_total - swap_used) * 1024,
        })
    }

    /// Mean load of the cores that are on.
    pub fn cpu_percent(&self) -> Option<f32> {
        let on: Vec<f32> = self.cpu_loads.iter().flatten().copied().collect();
        (!on.is_empty()).then(|| on.iter().sum::<f32>() / on.len() as f32)
    }
}

/// The last line of a file that `tegrastats --logfile` appends to. Only the tail is read:
/// the log grows for as long as tegrastats runs.
pub fn read_last_line(path: &Path) -> Result<TegraStats, TegrastatsSourceError> {
    const TAIL: u64 = 4096;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing,
        _ => ReadError::Unreadable(std::sync::Arc::new(e)),
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    // A modification time in the future (clock changes) counts as fresh.
    let age = meta
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .unwrap_or_default();
    if age > STALE_AFTER {
        return Err(TegrastatsSourceError::Stale(age.as_secs()));
    }
    let len = meta.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL)))
        .map_err(io)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io)?;
    let text = String::from_utf8_lossy(&bytes);
    // A line being written has no newline yet; the last complete one is wanted then.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => &text[..],
    };
    let last = complete
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Ok(parse_line(last)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixtures' one non-comment line.
    fn fixture(text: &str) -> TegraStats {
        let line = text.lines().find(|l| !l.starts_with('#')).unwrap();
        parse_line(line).unwrap()
    }

    fn zone(name: &str, celsius: f32) -> ZoneReading {
        ZoneReading {
            name: name.into(),
            celsius,
        }
    }

    #[test]
    fn jetpack4_nano() {
        let s = fixture(include_str!("../../testdata/tegrastats/jetpack4-nano.txt"));
        assert_eq!(s.ram_mb, Some((2448, 3964)));
        assert_eq!(s.swap_mb, Some((0, 1982)));
        assert_eq!(s.cpu_loads, [Some(12.0), Some(8.0), None, None]);
        assert_eq!(s.cpu_percent(), Some(10.0));
        assert_eq!(s.gpu_percent, Some(0.0));
        let names: Vec<&str> = s.zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["PLL", "CPU", "PMIC", "GPU", "AO", "thermal"]);
        assert_eq!(s.zones[1], zone("CPU", 37.5));
        let m = s.memory().unwrap();
        assert_eq!((m.total_kb, m.available_kb), (3964 * 1024, 1516 * 1024));
    }

    #[test]
    fn jetpack5_orin_skips_powered_off_sensors() {
        let s = fixture(include_str!("../../testdata/tegrastats/jetpack5-orin.txt"));
        assert_eq!(s.ram_mb, Some((2448, 30536)));
        assert_eq!(s.cpu_loads.len(), 8);
        assert_eq!(s.cpu_percent(), Some(25.0));
        assert_eq!(s.gpu_percent, Some(25.0));
        assert!(s.zones.iter().all(|z| z.celsius > 0.0), "{:?}", s.zones);
        assert!(s.zones.contains(&zone("tj", 47.5)));
        assert!(!s.zones.iter().any(|z| z.name == "GPU"));
    }

    #[test]
    fn jetpack6_orin_nano() {
        let s = fixture(include_str!(
            "../../testdata/tegrastats/jetpack6-orin-nano.txt"
        ));
        assert_eq!(s.ram_mb, Some((1234, 7620)));
        assert_eq!(s.swap_mb, Some((512, 3810)));
        assert_eq!(s.gpu_percent, Some(0.0));
        assert_eq!(s.zones[0], zone("cpu", 45.968));
        assert!(s.zones.contains(&zone("tj", 47.5)));
        // VDD_IN 3456mW/3456mW and the leading date are not figures.
        assert_eq!(s.zones.len(), 6);
        let m = s.memory().unwrap();
        assert_eq!(m.swap_total_kb - m.swap_free_kb, 512 * 1024);
    }

    #[test]
    fn other_gpu_forms_and_errors() {
        assert_eq!(
            parse_line("GR3D_FREQ 99%@1377").unwrap().gpu_percent,
            Some(99.0)
        );
        assert_eq!(parse_line("  \n"), Err(TegrastatsError::Empty));
        assert_eq!(
            parse_line("hello world"),
            Err(TegrastatsError::NotTegrastats("hello world".into()))
        );
        let e = parse_line("RAM 5000/4000MB").unwrap_err();
        assert_eq!(e.to_string(), "bad RAM value \"5000/4000MB\"");
        assert!(matches!(
            parse_line("CPU [x%@1,off]"),
            Err(TegrastatsError::BadValue { field: "CPU", .. })
        ));
        assert!(parse_line("GR3D_FREQ 150%").is_err());
        assert_eq!(parse_line("RAM 1/2GB").unwrap().ram_mb, Some((1024, 2048)));
    }

    #[test]
    fn reads_the_last_complete_line_of_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tegrastats.log");
        assert!(matches!(
            read_last_line(&path),
            Err(TegrastatsSourceError::Read(ReadError::Missing))
        ));
        std::fs::write(&path, "").unwrap();
        assert!(matches!(
            read_last_line(&path),
            Err(TegrastatsSourceError::Parse(TegrastatsError::Empty))
        ));
        let old = "RAM 1000/4000MB GR3D_FREQ 10%\n";
        let new = "RAM 2000/4000MB GR3D_FREQ 20%\n";
        let long = old.repeat(500);
        std::fs::write(&path, format!("{long}{new}RAM 3000/40")).unwrap();
        let s = read_last_line(&path).unwrap();
        assert_eq!((s.ram_mb, s.gpu_percent), (Some((2000, 4000)), Some(20.0)));
        // tegrastats stopped a minute ago: its last line is not the board now.
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
            .unwrap();
        let e = read_last_line(&path).unwrap_err();
        assert!(matches!(e, TegrastatsSourceError::Stale(60..=61)), "{e:?}");
        assert!(e.to_string().starts_with("not updated for 6"), "{e}");
    }
}
