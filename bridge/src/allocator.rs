//! glibc's allocator setting the bridge needs, applied to its own process at start. glibc raises
//! its `mmap` threshold to the size of each large block freed (up to 32 MiB), after which large
//! buffers — a 40 MiB binlog event is held three times by mysql_async as it arrives — come from
//! its arenas, where freed memory stays resident: the peak then swings by tens of MiB from run to
//! run (188 MiB, up to 200, against a 195 MiB allowance). A fixed threshold keeps every block of
//! 1 MiB or more in its own mapping, returned to the system when freed (148 MiB in every run;
//! docs/BENCHMARKS.md, "Bridge memory"). glibc reads the setting once, from the environment, when
//! the process starts, and setting it from inside would need `unsafe` (`mallopt`), which the
//! workspace forbids: so the bridge runs itself again with the variable set. It must not touch
//! anything else of the process: arguments and the rest of the environment pass through unchanged,
//! and an operator's own value of the variable is kept.

use std::os::unix::process::CommandExt;

/// The variable glibc reads its `mmap` threshold from (bytes; setting it also stops the dynamic
/// raising described above).
pub const MMAP_THRESHOLD_VAR: &str = "MALLOC_MMAP_THRESHOLD_";
/// 1 MiB: blocks this large are rare outside binlog events and pictures.
pub const MMAP_THRESHOLD: &str = "1048576";

/// When the environment does not set the threshold, replaces this process with the same program,
/// arguments and environment plus the threshold, and so does not return. When that cannot be done
/// (the program file gone after an upgrade, say) it says so on stderr (logging is not set up yet)
/// and returns: the bridge goes on with glibc's defaults.
pub fn fix_mmap_threshold() {
    if std::env::var_os(MMAP_THRESHOLD_VAR).is_some() {
        return;
    }
    let failed = match std::env::current_exe() {
        // `exec` returns only when it failed.
        Ok(program) => std::process::Command::new(program)
            .args(std::env::args_os().skip(1))
            .env(MMAP_THRESHOLD_VAR, MMAP_THRESHOLD)
            .exec(),
        Err(e) => e,
    };
    eprintln!("bridge: going on with glibc's default mmap threshold: {failed}");
}
