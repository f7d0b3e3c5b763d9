import Formats
import Tensor

/// One (micro-)batch of token ids and next-token targets, both (B, T) row-major.
public struct TrainingBatch: Sendable {
    public var B: Int, T: Int
    public var tokens: [Int32]
    /// `targets[r]` is the token after `tokens[r]`, or −1 where the position is not supervised.
    public var targets: [Int32]
    /// The teacher's top-K rows from a teacher cache, when the batch came from one: the trainer
    /// then skips the teacher forward.
    public var cachedTeacher: CachedTeacherRows?
    public init(B: Int, T: Int, tokens: [Int32], targets: [Int32], cachedTeacher: CachedTeacherRows? = nil) {
        precondition(tokens.count == B * T && targets.count == B * T, "TrainingBatch: \(tokens.count)/\(targets.count) ids for (\(B), \(T))")
        self.B = B; self.T = T; self.tokens = tokens; self.targets = targets; self.cachedTeacher = cachedTeacher
    }
}

/// A batch's sparse teacher, (B·T) rows of which the supervised ones are filled.
public struct CachedTeacherRows: Sendable {
    public var K: Int
    /// (B·T, K) ids, (B·T, K) log-probs, (B·T) log tail masses.
    public var ids: [Int32], logProbs: [Float], logTail: [Float]
    /// The target's hidden states (B·T, stateWidth) at the supervised rows (zero elsewhere), for a
    /// draft that reads them (``FeatureStaleness``); empty when the cache has none or none was asked for.
    public var states: [Float] = [], stateWidth = 0
    public init(rows: Int, K: Int) {
        self.K = K
        ids = [Int32](repeating: 0, count: rows * K); logProbs = [Float](repeating: 0, count: rows * K)
        logTail = [Float](repeating: -.infinity, count: rows)
    }

    /// Runs `body` with the rows as a ``SparseTeacher``.
    public func withSparseTeacher<R>(_ body: (SparseTeacher) throws -> R) rethrows -> R {
        try ids.withUnsafeBufferPointer { i in
            try logProbs.withUnsafeBufferPointer { l in
                try logTail.withUnsafeBufferPointer { t in
                    try body(SparseTeacher(K: K, ids: i.baseAddress!, logProbs: l.baseAddress!, logTail: t.baseAddress!))
                }
            }
        }
    }
}

/// Where training batches come from. Sources draw all randomness from the generator they are
/// given (the trainer's, which checkpoints save), so a resumed run sees the same batches.
public protocol BatchSource {
    mutating func nextBatch(B: Int, T: Int, rng: inout RandomGenerator) throws -> TrainingBatch
    /// Advances the source and `rng` exactly as ``nextBatch(B:T:rng:)`` would, without needing the
    /// batch: a data-parallel rank skips the micro-batches of the other ranks. The default draws
    /// the batch and drops it; sources that can skip cheaply override it.
    mutating func skipBatch(B: Int, T: Int, rng: inout RandomGenerator) throws
}

extension BatchSource {
    public mutating func skipBatch(B: Int, T: Int, rng: inout RandomGenerator) throws {
        _ = try nextBatch(B: B, T: T, rng: &rng)
    }
}

/// Random windows of T + 1 consecutive tokens from one token stream (language-model pretraining):
/// inputs are the first T, targets the last T.
public struct TokenStreamSource: BatchSource {
    public let tokens: [Int32]
    public init(tokens: [Int32]) { self.tokens = tokens }

    public mutating func nextBatch(B: Int, T: Int, rng: inout RandomGenerator) throws -> TrainingBatch {
        guard tokens.count > T + 1 else {
            throw DistillError.data("the corpus has \(tokens.count) tokens, fewer than one window of context + 1 = \(T + 1); use more text or a smaller --context")
        }
        var x = [Int32](repeating: 0, count: B * T), y = [Int32](repeating: 0, count: B * T)
        let span = UInt64(tokens.count - T - 1 + 1)
        for b in 0..<B {
            let start = Int(rng.next() % span)
            for t in 0..<T { x[b * T + t] = tokens[start + t]; y[b * T + t] = tokens[start + t + 1] }
        }
        return TrainingBatch(B: B, T: T, tokens: x, targets: y)
    }

    /// One `rng.next()` per sequence, as ``nextBatch(B:T:rng:)``.
    public mutating func skipBatch(B: Int, T: Int, rng: inout RandomGenerator) throws {
        for _ in 0..<B { _ = rng.next() }
    }
}

/// Errors of the distillation/training layer, each naming the problem and the fix.
public enum DistillError: Error, CustomStringConvertible {
    case data(String)
    case settings(String)
    case checkpoint(String)
    case vocabulary(String)
    public var description: String {
        switch self {
        case .data(let m), .settings(let m), .checkpoint(let m), .vocabulary(let m): return ErrorText.clip(m)
        }
    }
}
