//! Reading a guest's serial console: lines as they arrive, and the kernel's own alarms.

/// A kernel line that means something went badly wrong in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelTrouble {
    /// 1-based line number in the console log.
    pub line: usize,
    /// The line itself.
    pub text: String,
}

/// What marks a line as trouble: a panic, an Oops, a BUG. `BUG:` includes soft lockups and
/// sleeping-in-atomic reports.
const ALARMS: &[&str] = &["Kernel panic", "Oops:", "Oops ", "BUG:", "kernel BUG at"];

/// Every troubling kernel line in `log`.
pub fn kernel_trouble(log: &str) -> Vec<KernelTrouble> {
    log.lines()
        .enumerate()
        .filter(|(_, l)| ALARMS.iter().any(|a| l.contains(a)))
        .map(|(i, l)| KernelTrouble {
            line: i + 1,
            text: l.trim_end_matches('\r').to_string(),
        })
        .collect()
}

/// The first complete line of `log` at or after byte `from` that contains `needle`, and the
/// byte offset just past it.
pub fn find_line(log: &str, from: usize, needle: &str) -> Option<(String, usize)> {
    let rest = log.get(from..)?;
    let mut offset = from;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        if !line.ends_with('\n') {
            // A line still being written: wait for its end, so callers see all of it.
            return None;
        }
        if line.contains(needle) {
            return Some((line.trim_end_matches(['\r', '\n']).to_string(), offset));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_oopses_and_bugs_are_found_with_line_numbers() {
        let log = "ok\r\n[ 1.0] BUG: kernel NULL pointer dereference\r\nfine\n\
                   [ 2.0] Oops: 0002 [#1] SMP\n[ 3.0] Kernel panic - not syncing: x\n";
        let found = kernel_trouble(log);
        assert_eq!(found.iter().map(|t| t.line).collect::<Vec<_>>(), [2, 4, 5]);
        assert_eq!(found[0].text, "[ 1.0] BUG: kernel NULL pointer dereference");
    }

    #[test]
    fn a_clean_boot_has_no_trouble() {
        let log = "[ 0.3] PCI: Fatal: No config space access function found\n\
                   ros: boot ok uptime=3.70\n[ 3.7] reboot: Power down\n";
        assert!(kernel_trouble(log).is_empty());
    }

    #[test]
    fn lines_are_found_whole_and_after_the_offset() {
        let log = "a marker 1\r\nb\nmarker 2\npartial mark";
        let (line, next) = find_line(log, 0, "marker").unwrap();
        assert_eq!(line, "a marker 1");
        let (line, next) = find_line(log, next, "marker").unwrap();
        assert_eq!(line, "marker 2");
        assert_eq!(find_line(log, next, "mark"), None, "partial lines wait");
        assert_eq!(find_line(log, 999, "x"), None);
    }
}
