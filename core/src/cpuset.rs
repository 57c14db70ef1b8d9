// SPDX-License-Identifier: MPL-2.0
//! CPU lists as `taskset -c` and `/sys/devices/system/cpu/online` write them (`0,2`, `0-3`).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CpuListError {
    #[error("empty CPU list")]
    Empty,
    #[error("'{0}' is not a CPU number or range (e.g. 0,2 or 0-3)")]
    Invalid(String),
    #[error("CPU range '{0}' runs backwards")]
    Backwards(String),
    #[error("CPU {cpu} is beyond the {max} this system can address")]
    TooLarge { cpu: usize, max: usize },
}

/// The CPUs of a list like `0,2-3`, sorted and without repeats; each must be below `max`.
pub fn parse_cpu_list(text: &str, max: usize) -> Result<Vec<usize>, CpuListError> {
    let number = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| CpuListError::Invalid(s.trim().to_string()))
    };
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if last < first {
            return Err(CpuListError::Backwards(part.to_string()));
        }
        if last >= max {
            return Err(CpuListError::TooLarge { cpu: last, max });
        }
        cpus.extend(first..=last);
    }
    if cpus.is_empty() {
        return Err(CpuListError::Empty);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Restricts the calling thread, and so every thread it starts afterwards, to the CPUs of
/// `list` (as `taskset -c` reads it); returns the CPUs the process may use then.
pub fn pin_to(list: &str) -> Result<Vec<usize>, PinError> {
    let max = libc::CPU_SETSIZE as usize;
    let cpus = parse_cpu_list(list, max)?;
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays below CPU_SETSIZE (checked
    // by the parser) and sched_setaffinity only reads the set.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in &cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(PinError::Refused(std::io::Error::last_os_error()));
    }
    Ok(allowed())
}

/// The CPUs this process may run on now (empty if the kernel does not say).
pub fn allowed() -> Vec<usize> {
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into `set`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Why the process could not be pinned.
#[derive(Debug, Error)]
pub enum PinError {
    #[error(transparent)]
    List(#[from] CpuListError),
    #[error("the kernel refused the CPU set: {0}")]
    Refused(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_cpu_list("0", 8), Ok(vec![0]));
        assert_eq!(parse_cpu_list("0,1", 8), Ok(vec![0, 1]));
        assert_eq!(parse_cpu_list("0-1", 8), Ok(vec![0, 1]));
        assert_eq!(parse_cpu_list(" 3, 0-2 ,2", 8), Ok(vec![0, 1, 2, 3]));
    }

    #[test]
    fn nonsense_is_refused() {
        assert_eq!(parse_cpu_list("", 8), Err(CpuListError::Empty));
        assert_eq!(parse_cpu_list(" , ", 8), Err(CpuListError::Empty));
        assert_eq!(
            parse_cpu_list("a", 8),
            Err(CpuListError::Invalid("a".into()))
        );
        assert_eq!(
            parse_cpu_list("0-", 8),
            Err(CpuListError::Invalid("".into()))
        );
        assert_eq!(
            parse_cpu_list("3-1", 8),
            Err(CpuListError::Backwards("3-1".into()))
        );
        assert_eq!(
            parse_cpu_list("0,8", 8),
            Err(CpuListError::TooLarge { cpu: 8, max: 8 })
        );
    }
}
