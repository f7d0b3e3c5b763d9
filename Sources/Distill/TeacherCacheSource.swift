import Formats
import Tensor
import Tokenizers

/// Fixed-data batches with the teacher read from a ``TeacherCache`` instead of computed.
///
/// Draws examples exactly as ``DistillationSource`` does for fixed data (one `rng.next()` per
/// sequence, example `next % count`), packs them with ``packExample``, and fills each supervised
/// row (b, t) from the cache's rows of that example, keyed by (example index, position t). The
/// cache must have been built with the same dataset, template and context; a position that the
/// batch supervises but the cache does not hold is an error naming the example.
public final class TeacherCacheSource: BatchSource {
    public let dataset: PromptDataset
    public let tokenizer: Tokenizer
    public let cache: TeacherCache
    private let pad: Int
    private var ids: [Int: (prompt: [Int], response: [Int])] = [:]
    /// Whether batches carry the target's states (``CachedTeacherRows/states``).
    public let withStates: Bool

    /// - Parameter withStates: fill the batches' target states (a feature-reading draft); the cache
    ///   must have been built with them.
    public init(dataset: PromptDataset, tokenizer: Tokenizer, cache: TeacherCache, withStates: Bool = false) throws {
        guard cache.manifest.examples == dataset.examples.count else {
            throw DistillError.data("teacher cache \(cache.directory.path) holds \(cache.manifest.examples) examples, the dataset \(dataset.examples.count); rebuild the cache for this data file")
        }
        if withStates && cache.stateWidth == 0 {
            throw DistillError.data("teacher cache \(cache.directory.path) holds no target states, which a draft reading them (--feature-staleness) trains on; build a cache with --states into a new directory")
        }
        self.dataset = dataset; self.tokenizer = tokenizer; self.cache = cache; self.withStates = withStates
        pad = tokenizer.padTokenID ?? tokenizer.eosTokenID ?? 0
    }

    public func nextBatch(B: Int, T: Int, rng: inout RandomGenerator) throws -> TrainingBatch {
        guard T == cache.manifest.identity.context else {
            throw DistillError.settings("teacher cache \(cache.directory.path) was built for context \(cache.manifest.identity.context), training uses \(T); rebuild the cache with --context \(T)")
        }
        let K = cache.K
        var tokens = [Int32](repeating: Int32(pad), count: B * T), targets = [Int32](repeating: -1, count: B * T)
        var teacher = CachedTeacherRows(rows: B * T, K: K)
        let Cf = withStates ? cache.stateWidth : 0
        if Cf > 0 { teacher.states = [Float](repeating: 0, count: B * T * Cf); teacher.stateWidth = Cf }
        for b in 0..<B {
            let i = Int(rng.next() % UInt64(dataset.examples.count))
            let pair = ids[i] ?? (dataset.promptIDs(i, tokenizer: tokenizer),
                                  dataset.responseIDs(i, tokenizer: tokenizer))
            ids[i] = pair
            packExample(prompt: pair.prompt, response: pair.response, T: T, pad: pad, tokens: &tokens, targets: &targets, row: b)
            let stored = cache.rows(example: i)
            var m = 0
            for t in 0..<T where targets[b * T + t] >= 0 {
                guard m < stored.positions.count, Int(stored.positions[m]) == t else {
                    throw DistillError.data("teacher cache \(cache.directory.path): example \(i) position \(t) is not stored; the cache was built from other data or another template: rebuild it")
                }
                let r = b * T + t
                for k in 0..<K {
                    teacher.ids[r * K + k] = stored.ids[m * K + k]
                    teacher.logProbs[r * K + k] = stored.logProbs[m * K + k]
                }
                teacher.logTail[r] = stored.logTail[m]
                if Cf > 0, let st = stored.states {
                    for j in 0..<Cf { teacher.states[r * Cf + j] = HalfFloat.fromF16(st[m * Cf + j]) }
                }
                m += 1
            }
        }
        return TrainingBatch(B: B, T: T, tokens: tokens, targets: targets, cachedTeacher: teacher)
    }

    /// One `rng.next()` per sequence, as ``nextBatch(B:T:rng:)``, without reading the cache.
    public func skipBatch(B: Int, T: Int, rng: inout RandomGenerator) throws {
        for _ in 0..<B { _ = rng.next() }
    }
}
