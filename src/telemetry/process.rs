//! This process's resource use, one helper per fact: resident memory and CPU time (read by
//! the OTLP metrics and by the observatory's samples).

/// Resident set size of this process, bytes, from `/proc/self/statm` (None where it is
/// unavailable).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// CPU time this process has used so far (user + system, every thread), µs.
pub fn cpu_time_us() -> u64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we own; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    let us = |t: libc::timeval| t.tv_sec.max(0) as u64 * 1_000_000 + t.tv_usec.max(0) as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// CPU time over wall time in percent of one core (0 over no time).
pub fn cpu_percent(cpu_us: u64, elapsed_ms: u64) -> f64 {
    if elapsed_ms == 0 {
        0.0
    } else {
        cpu_us as f64 / elapsed_ms as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_proc() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }

    #[test]
    fn cpu_time_grows_while_busy() {
        let before = cpu_time_us();
        let mut x = 0u64;
        while cpu_time_us() < before + 20_000 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert_eq!(cpu_percent(500_000, 1_000), 50.0);
        assert_eq!(cpu_percent(1, 0), 0.0);
    }
}
