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

    public init(dataset: PromptDataset, tokenizer: Tokenizer, cache: TeacherCache) throws {
        guard cache.manifest.examples == dataset.examples.count else {
            throw DistillError.data("teacher cache \(cache.directory.path) holds \(cache.manifest.examples) examples, the dataset \(dataset.examples.count); rebuild the cache for this data file")
        }
        self.dataset = dataset; self.tokenizer = tokenizer; self.cache = cache
        pad = tokenizer.padTokenID ?? tokenizer.eosTokenID ?? 0
    }

    public func nextBatch(B: Int, T: Int, rng: inout RandomGenerator) throws -> TrainingBatch {
        guard T == cache.manifest.identity.context else {
            throw DistillError.settings("teacher cache \(cache.directory.path) was built for context \(cache.manifest.identity.context), training uses \(T); rebuild the cache with --context \(T)")
        }
        let K = cache.K
        var tokens = [Int32](repeating: Int32(pad), count: B * T), targets = [Int32](repeating: -1, count: B * T)
        var teacher = CachedTeacherRows(rows: B * T, K: K)
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
