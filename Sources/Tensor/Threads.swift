import CBLAS
import CKernels
import Foundation

/// The one setting for the number of threads, shared by OpenBLAS and the project's own loops.
///
/// Set it once at start-up (the CLI's `--threads`, default: the number of cores). Results of the
/// project's kernels do not depend on it: every parallel loop assigns each output element to
/// exactly one worker and computes it in a fixed order, so 1 and N threads give identical bits.
/// (OpenBLAS's own sgemm may split the K dimension differently for different thread counts; the
/// project never relies on bitwise equality of BLAS results across thread counts.)
public enum Threads {
    nonisolated(unsafe) private static var current: Int = defaultCount

    /// Cores reported by the system (at least 1); `SPECDISTILL_THREADS` overrides it.
    public static var defaultCount: Int {
        if let s = ProcessInfo.processInfo.environment["SPECDISTILL_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The number of threads used by OpenBLAS and by ``parallelFor(_:_:)``.
    public static var count: Int {
        get { current }
        set {
            precondition(newValue >= 1, "Threads.count must be at least 1, got \(newValue)")
            current = newValue
            openblas_set_num_threads(Int32(newValue))
        }
    }

    /// Applies the current setting to OpenBLAS (call once at start-up).
    public static func configure(_ n: Int = defaultCount) { count = n }
}

/// Runs `body(range)` over disjoint contiguous chunks covering `0..<n`, on up to
/// ``Threads/count`` threads. Chunks are contiguous and each index is visited once, so a body
/// that writes only the outputs of its own indices is deterministic whatever the thread count.
/// - Parameters:
///   - n: number of work items.
///   - minChunk: smallest chunk worth a thread (avoid waking threads for tiny work).
@inlinable
public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    if n <= 0 { return }
    let workers = min(Threads.count, max(1, n / max(1, minChunk)))
    if workers <= 1 { body(0..<n); return }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = n * w / workers, hi = n * (w + 1) / workers
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// ``parallelFor(_:minChunk:_:)`` for decode-sized work (a single token's matrix products and
/// attention, tens of microseconds each): the chunks run on the calling thread and on the
/// persistent helper threads of ``sd_pool_run``, which spin briefly between jobs instead of being
/// woken for each one. The split is the same as ``parallelFor(_:minChunk:_:)``'s, so results are
/// identical whatever runs them; when the pool is busy (a nested or concurrent call) the chunks
/// run one after another on the calling thread.
/// - Parameters:
///   - n: number of work items.
///   - minChunk: smallest chunk worth a thread.
public func parallelForSpinning(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    if n <= 0 { return }
    let workers = min(Threads.count, max(1, n / max(1, minChunk)))
    if workers <= 1 { body(0..<n); return }
    withoutActuallyEscaping(body) { body in
        var job = PoolJob(n: n, body: body)
        let ran = withUnsafeMutablePointer(to: &job) { sd_pool_run(Int32(workers), poolTask, UnsafeMutableRawPointer($0)) }
        if ran == 0 {
            for w in 0..<workers {
                let lo = n * w / workers, hi = n * (w + 1) / workers
                if lo < hi { body(lo..<hi) }
            }
        }
    }
}

private struct PoolJob {
    let n: Int
    let body: (Range<Int>) -> Void
}

/// Chunk `w` of `workers` of a ``PoolJob``: indices `n·w/workers ..< n·(w+1)/workers`.
private let poolTask: sd_task_fn = { ctx, w, workers in
    let job = ctx!.assumingMemoryBound(to: PoolJob.self)
    let n = job.pointee.n, lo = n * Int(w) / Int(workers), hi = n * (Int(w) + 1) / Int(workers)
    if lo < hi { job.pointee.body(lo..<hi) }
}
