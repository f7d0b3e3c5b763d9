import Tensor

/// One ``DivergenceScratch`` per worker and a deterministic split of rows over workers, shared
/// by the objectives and the acceptance measurement.
///
/// Rows are split into `Threads.count` contiguous chunks; each chunk is handled by one worker with
/// its own scratch, and every row's results depend only on that row, so the output bits do not
/// depend on the thread count. Scratches are allocated on first use (or when V grows) and reused.
struct DivergenceScratchPool {
    private(set) var scratches: [DivergenceScratch] = []

    /// Makes sure there are `workers` scratches of width ≥ V (allocates only when that is not yet so).
    mutating func reserve(workers: Int, V: Int) {
        if let first = scratches.first, first.V < V { scratches.removeAll() }
        while scratches.count < workers { scratches.append(DivergenceScratch(V: V)) }
    }

    /// Runs `body(rowRange, scratch)` over `0..<rows` split into at most `Threads.count` chunks,
    /// in parallel; `body` must write only outputs of its own rows.
    mutating func forEachChunk(rows: Int, V: Int, _ body: (Range<Int>, DivergenceScratch) -> Void) {
        guard rows > 0 else { return }
        // About 16K logits per chunk at least: below that a second thread costs more than it saves.
        let workers = Swift.min(Threads.count, Swift.max(1, rows * V / 16_384), rows)
        reserve(workers: workers, V: V)
        let pool = scratches
        parallelFor(workers) { range in
            for w in range {
                body(rows * w / workers ..< rows * (w + 1) / workers, pool[w])
            }
        }
    }
}
