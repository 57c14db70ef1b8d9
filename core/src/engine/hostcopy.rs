// SPDX-License-Identifier: MPL-2.0
//! Host-side copies into and out of pinned staging memory, spread over threads when a batch is
//! big enough to pay for them: at batch 64 a GPU run stages 59 MB of 640×480 frames and 48 MB
//! of trt_pose maps, and one core's memory copy bounds that (about 10 GB/s), not PCIe.

/// Below this many bytes per thread a copy stays on the calling thread (a thread costs tens
/// of microseconds; 4 MB copies in about 0.3 ms).
const MIN_BYTES_PER_THREAD: usize = 4 << 20;

/// Threads worth using for `bytes` of copying, at most `max`.
pub fn threads_for(bytes: usize, max: usize) -> usize {
    (bytes / MIN_BYTES_PER_THREAD).clamp(1, max.max(1))
}

/// The host's cores, the ceiling for copy threads. Asked once: the answer reads the affinity
/// mask and cgroup files, too much for every batch.
pub fn host_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(16)))
}

/// Copies each `(src, offset)` piece into `dst` at `offset`. Pieces must not overlap in `dst`
/// and must fit in it. `dst` is cut into `threads` equal ranges, each thread copying the parts
/// of the pieces that fall in its range, so one large piece is split as well as many small ones.
pub fn gather<T: Copy + Send + Sync>(dst: &mut [T], pieces: &[(&[T], usize)], threads: usize) {
    for (src, offset) in pieces {
        assert!(
            offset + src.len() <= dst.len(),
            "piece at {offset} of {} elements overflows a buffer of {}",
            src.len(),
            dst.len()
        );
    }
    let copy_range = |part: &mut [T], start: usize| {
        let end = start + part.len();
        for (src, offset) in pieces {
            let (a, b) = (*offset.max(&start), (offset + src.len()).min(end));
            if a < b {
                part[a - start..b - start].copy_from_slice(&src[a - offset..b - offset]);
            }
        }
    };
    let total: usize = pieces.iter().map(|(s, _)| s.len()).sum();
    let n = threads_for(total * std::mem::size_of::<T>(), threads);
    if n == 1 {
        return copy_range(dst, 0);
    }
    let chunk = dst.len().div_ceil(n);
    std::thread::scope(|scope| {
        for (i, part) in dst.chunks_mut(chunk).enumerate() {
            let copy_range = &copy_range;
            scope.spawn(move || copy_range(part, i * chunk));
        }
    });
}

/// `dst.copy_from_slice(src)` on up to `threads` threads.
pub fn copy<T: Copy + Send + Sync>(dst: &mut [T], src: &[T], threads: usize) {
    assert_eq!(
        dst.len(),
        src.len(),
        "copy between slices of different lengths"
    );
    gather(dst, &[(src, 0)], threads);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2654435761).wrapping_add(seed) as u8)
            .collect()
    }

    #[test]
    fn gather_places_every_piece_serially_and_threaded() {
        // Three frames of uneven sizes with gaps between them; big enough for 4 threads.
        let a = pattern(5 << 20, 1);
        let b = pattern(3 << 20, 2);
        let c = pattern(7 << 20, 3);
        let offsets = [0usize, (5 << 20) + 17, (8 << 20) + 40];
        let len = offsets[2] + c.len() + 9;
        let pieces = [
            (&a[..], offsets[0]),
            (&b[..], offsets[1]),
            (&c[..], offsets[2]),
        ];
        let mut expected = vec![0xAAu8; len];
        for (src, off) in &pieces {
            expected[*off..off + src.len()].copy_from_slice(src);
        }
        for threads in [1, 2, 3, 4, 16] {
            let mut dst = vec![0xAAu8; len];
            gather(&mut dst, &pieces, threads);
            assert!(dst == expected, "{threads} threads copied differently");
        }
    }

    #[test]
    fn copy_splits_one_large_slice() {
        let src: Vec<f32> = (0..(3 << 20)).map(|i| i as f32 * 0.5).collect();
        let mut dst = vec![0f32; src.len()];
        copy(&mut dst, &src, 8);
        assert_eq!(dst, src);
        assert_eq!(threads_for(12 << 20, 8), 3);
        assert_eq!(threads_for(100, 8), 1);
        assert_eq!(threads_for(1 << 30, 8), 8);
    }

    #[test]
    #[should_panic(expected = "overflows")]
    fn a_piece_past_the_end_is_refused() {
        let mut dst = [0u8; 4];
        gather(&mut dst, &[(&[1, 2, 3][..], 2)], 1);
    }
}
