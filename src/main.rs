//! The `huntlake` binary: chooses and tunes the allocator and hands over to the command line.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;

use mimalloc::MiMalloc;

#[global_allocator]
static ALLOCATOR: SplitAllocator = SplitAllocator;

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

/// Blocks up to this size come from mimalloc, larger ones from glibc.
const SMALL_BLOCK: usize = 4 << 10;

/// Planning a query allocates and frees a great many small blocks (expressions, fields, plan
/// nodes): glibc's `malloc` and `free` were a fifth of the planning thread's time, and with
/// mimalloc serving them the sample lake's detection takes about 15% less wall time. The large
/// buffers of a scan (column chunks, decoded pages, arrays) stay with glibc, tuned above: given
/// to mimalloc as well, they more than doubled a detection's peak memory on the benchmark
/// lakes and made the lake of 1,444 small files slower.
struct SplitAllocator;

fn is_small(size: usize) -> bool {
    size <= SMALL_BLOCK
}

// SAFETY: a block's size alone decides which allocator it comes from, and the same size is
// given back when it is freed or resized, so each block returns to the allocator that gave it
// out; a resize across the boundary moves the block from one to the other.
unsafe impl GlobalAlloc for SplitAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_small(layout.size()) {
            unsafe { MiMalloc.alloc(layout) }
        } else {
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_small(layout.size()) {
            unsafe { MiMalloc.alloc_zeroed(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_small(layout.size()) {
            unsafe { MiMalloc.dealloc(ptr, layout) }
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_small(layout.size()), is_small(new_size)) {
            (true, true) => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: the caller guarantees that `new_size`, rounded up to the alignment,
                // does not overflow `isize`.
                let new_layout =
                    unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `len` bytes at `ptr` with a pattern that depends on the position.
    unsafe fn fill(ptr: *mut u8, len: usize) {
        for i in 0..len {
            unsafe { ptr.add(i).write((i % 251) as u8) };
        }
    }

    unsafe fn holds_pattern(ptr: *const u8, len: usize) -> bool {
        (0..len).all(|i| unsafe { ptr.add(i).read() } == (i % 251) as u8)
    }

    #[test]
    fn blocks_keep_their_bytes_when_they_move_between_the_allocators() {
        let small = SMALL_BLOCK / 2;
        let large = SMALL_BLOCK * 4;
        for align in [1, 8, 64] {
            let layout = Layout::from_size_align(small, align).unwrap();
            unsafe {
                // Small to large: from mimalloc to glibc.
                let ptr = ALLOCATOR.alloc(layout);
                assert!(!ptr.is_null());
                fill(ptr, small);
                let grown = ALLOCATOR.realloc(ptr, layout, large);
                assert!(!grown.is_null());
                assert_eq!(grown as usize % align, 0);
                assert!(holds_pattern(grown, small));
                // Large to small: back to mimalloc, keeping the first bytes.
                let large_layout = Layout::from_size_align(large, align).unwrap();
                fill(grown, large);
                let shrunk = ALLOCATOR.realloc(grown, large_layout, small);
                assert!(!shrunk.is_null());
                assert!(holds_pattern(shrunk, small));
                ALLOCATOR.dealloc(shrunk, layout);
            }
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_on_both_sides_of_the_boundary() {
        for size in [16, SMALL_BLOCK, SMALL_BLOCK + 1, 1 << 20] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            unsafe {
                let ptr = ALLOCATOR.alloc_zeroed(layout);
                assert!(!ptr.is_null());
                assert!((0..size).all(|i| ptr.add(i).read() == 0));
                ALLOCATOR.dealloc(ptr, layout);
            }
        }
    }
}
