//! The `huntlake` binary: tunes the allocator and hands over to the command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    tune_allocator();
    huntlake::cli::main()
}

/// glibc returns every large buffer (a Parquet column chunk, a decoded page) to the kernel and
/// maps a fresh, zeroed one for the next, so page faults and zeroing took about a tenth of a
/// detection's CPU. Keeping buffers up to 256 MiB on the heap lets them be reused.
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` in the environment still win.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |variable: &str, param, value| {
            if std::env::var_os(variable).is_none() {
                // SAFETY: mallopt only changes allocator parameters, before any thread starts.
                unsafe { libc::mallopt(param, value) };
            }
        };
        set("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 256 << 20);
        set("MALLOC_TRIM_THRESHOLD_", libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
