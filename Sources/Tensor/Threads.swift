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
    // Swift 6 exceptions (the package's only unsynchronised globals, with Communicator.started):
    // `current` and `usePool` are set at start-up, before any parallel work (the CLI's --threads,
    // tests' setUp), and only read afterwards, from every worker on every parallel loop; a lock or
    // atomic there would tax ~120 parallel products per decoded token for no safety gained.
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

    /// Whether ``run(tasks:threads:_:)`` uses the project's persistent pool (``sd_pool_run``: helpers
    /// spin ~50 µs between jobs, then sleep on a futex) rather than GCD's `concurrentPerform`,
    /// which wakes its workers through semaphores on every call (tens of µs; decoding makes
    /// ~120 parallel products per token). Default true; `SPECDISTILL_POOL=0` sets false.
    /// Results do not depend on it.
    nonisolated(unsafe) public static var usePool: Bool =
        ProcessInfo.processInfo.environment["SPECDISTILL_POOL"] != "0"

    /// Runs `task(i)` for every `i` in `0..<tasks` on up to `threads` threads (default
    /// ``count``), the calling thread included, and returns when all are done. Threads claim
    /// task indices dynamically, so a thread that is held up (preempted on a loaded machine)
    /// leaves the remaining tasks to the others; a task's work must not depend on which thread
    /// runs it. Uses the pool when ``usePool`` is set and the pool is free; a nested or
    /// concurrent call (the pool is busy) falls back to GCD.
    public static func run(tasks: Int, threads: Int? = nil, _ task: (Int) -> Void) {
        if tasks <= 0 { return }
        let threads = min(threads ?? count, tasks)
        if threads <= 1 {
            for i in 0..<tasks { task(i) }
            return
        }
        withoutActuallyEscaping(task) { task in
            if usePool {
                var boxed = task
                let done = withUnsafeMutablePointer(to: &boxed) { p in
                    sd_pool_run(Int32(tasks), Int32(threads), { ctx, i in
                        ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i))
                    }, p)
                }
                if done != 0 { return }
            }
            let shared = ConcurrentTask(body: task)
            DispatchQueue.concurrentPerform(iterations: tasks) { shared.body($0) }
        }
    }
}

/// A task body run on several threads at once. Swift 6 exception (strict concurrency): the body is
/// not `@Sendable` because the project's parallel loops capture unsafe pointers and write through
/// them; their contract — each index writes only its own outputs, so the writes are disjoint — is
/// what makes them safe, and closure types cannot express it.
private struct ConcurrentTask: @unchecked Sendable {
    let body: (Int) -> Void
}

/// Runs `body(range)` over disjoint contiguous chunks covering `0..<n`, on up to
/// ``Threads/count`` threads. Chunks are contiguous and each index is visited once, so a body
/// that writes only the outputs of its own indices is deterministic whatever the thread count.
/// When the work allows, there are twice as many chunks as threads (claimed dynamically, so a
/// preempted thread's share is picked up by the others).
/// - Parameters:
///   - n: number of work items.
///   - minChunk: smallest chunk worth a thread (avoid waking threads for tiny work).
@inlinable
public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    if n <= 0 { return }
    let most = max(1, n / max(1, minChunk))
    let workers = min(Threads.count, most)
    if workers <= 1 { body(0..<n); return }
    let chunks = min(2 * workers, most)
    Threads.run(tasks: chunks, threads: workers) { w in
        let lo = n * w / chunks, hi = n * (w + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}
