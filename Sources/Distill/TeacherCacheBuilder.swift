import Formats
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Progress of a teacher-cache build (the library prints nothing; the CLI draws a bar).
public enum TeacherCacheEvent: Sendable {
    /// `shards` in all, of which `skipped` were complete from an earlier build.
    case started(examples: Int, shards: Int, skipped: Int)
    /// After each teacher batch: examples and supervised positions done (this build), seconds so far.
    case progress(examples: Int, positions: Int, tokens: Int, seconds: Double)
    /// A shard was written (renamed into place) and recorded in the manifest.
    case shardWritten(index: Int, file: String)
    case finished(positions: Int, seconds: Double)
}

/// Computes a teacher cache (``TeacherCache``) for a fixed dataset: every example is packed as the
/// training batches pack it (``packExample`` at context T), the teacher runs forward over B
/// sequences at once, and at each supervised position t (target ≥ 0) the top-K of
/// `log softmax(u_t / temperature)` and `log r = log Σ_{i∉S} p_i` (summed directly, not as
/// 1 − Σ_S, so small tails keep their relative accuracy) are stored.
///
/// Shards of ``examplesPerShard`` examples are written to a temporary name and renamed; the
/// manifest lists them as they complete, so a build interrupted (killed, or a callback that
/// throws) resumes after the last complete shard and produces byte-identical files.
public struct TeacherCacheBuilder {
    public let teacher: TransformerModel
    public let tokenizer: Tokenizer
    public let dataset: PromptDataset
    public let identity: TeacherCacheIdentity
    public var examplesPerShard = 2048
    /// B, sequences per teacher forward (float32 weights); with native weights, examples per
    /// progress event.
    public var batchSize = 8
    /// Native weights: positions per ``InferenceSession`` append. Bounds the logit buffer
    /// (rows × V floats) while each weight block is read once for many rows.
    public var appendRows = 64

    public init(teacher: TransformerModel, tokenizer: Tokenizer, dataset: PromptDataset, identity: TeacherCacheIdentity) {
        self.teacher = teacher; self.tokenizer = tokenizer; self.dataset = dataset; self.identity = identity
    }

    /// Builds (or resumes) the cache in `directory` and opens it.
    /// - Throws: a mismatch with an existing manifest (naming the field), or what `onEvent` throws.
    @discardableResult
    public func build(into directory: URL, onEvent: (TeacherCacheEvent) throws -> Void = { _ in }) throws -> TeacherCache {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        AtomicFile.removeLeftovers(in: directory)  // of a build killed while writing a shard
        let count = dataset.examples.count, perShard = max(1, examplesPerShard)
        try validate()
        var manifest = TeacherCacheManifest(identity: identity, examples: count, examplesPerShard: perShard, complete: false, shards: [],
                                            weights: weights.rawValue)
        if let old = try TeacherCacheManifest.load(directory) {
            try old.check(identity, directory: directory)
            guard old.identity.states == identity.states else {
                throw DistillError.data("teacher cache \(directory.path) was built \(old.identity.states > 0 ? "with" : "without") target states, this build asks \(identity.states > 0 ? "for them" : "for none"): delete the directory and rebuild, or build into a new one")
            }
            try checkResume(old, directory: directory)
            guard old.examples == count, old.examplesPerShard == perShard else {
                throw DistillError.data("teacher cache \(directory.path) has \(old.examples) examples in shards of \(old.examplesPerShard); this build has \(count) in shards of \(perShard): delete the directory and rebuild")
            }
            manifest = old
            // Keep only the leading shards whose files are intact.
            var kept: [TeacherCacheManifest.Shard] = []
            for s in old.shards {
                guard (try? TeacherCacheShard(url: directory.appendingPathComponent(s.file), expected: s, identity: identity)) != nil else { break }
                kept.append(s)
            }
            manifest.shards = kept
        }
        let shardCount = (count + perShard - 1) / perShard
        try onEvent(.started(examples: count, shards: shardCount, skipped: manifest.shards.count))
        let run = ShardRun(builder: self)
        for shard in manifest.shards.count..<shardCount {
            manifest.shards.append(try run.write(shard: shard, into: directory, perShard: perShard, onEvent: onEvent))
            try manifest.write(directory)
            try onEvent(.shardWritten(index: shard, file: manifest.shards.last!.file))
        }
        manifest.complete = true
        try manifest.write(directory)
        try onEvent(.finished(positions: run.positionsDone, seconds: Date().timeIntervalSince(run.start)))
        return try TeacherCache(directory: directory, identity: identity)
    }

    /// How the teacher's weights are held, recorded in the manifest (its raw value): native (GGUF
    /// types, run by ``InferenceSession`` one example at a time, no padding) or f32 (batched
    /// ``TrainingWorkspace``).
    public var weights: WeightStorage { teacher.native != nil ? .native : .f32 }

    /// A partial cache is resumed only with the weights it was started with, so that one cache never
    /// mixes the two (they agree to float rounding and activation quantisation, not bitwise).
    func checkResume(_ old: TeacherCacheManifest, directory: URL) throws {
        if let w = old.weights, !old.complete, w != weights.rawValue {
            throw DistillError.data("teacher cache \(directory.path) was started with --weights \(w); this build uses --weights \(weights.rawValue): resume with --weights \(w), or delete the directory and rebuild")
        }
    }

    /// The checks before a build: K inside the vocabulary, the context inside the teacher's
    /// positions, every example with a response.
    func validate() throws {
        guard identity.context <= teacher.config.maxPositions else {
            throw DistillError.settings("--context \(identity.context) exceeds the target's \(teacher.config.maxPositions) positions; pass --context \(teacher.config.maxPositions) or less")
        }
        guard identity.topK >= 1, identity.topK <= teacher.config.vocabSize else {
            throw DistillError.settings("--top-k must be in 1…\(teacher.config.vocabSize) (the target's logit width), got \(identity.topK)")
        }
        if identity.states != 0 && identity.states != teacher.config.hiddenSize {
            throw DistillError.settings("target states of width \(identity.states) asked for; the target's hidden size is \(teacher.config.hiddenSize)")
        }
        if let i = dataset.examples.firstIndex(where: { $0.response == nil }) {
            throw DistillError.data("example \(i + 1) has no response; a teacher cache is for fixed data (dataset responses)")
        }
    }
}

/// One build's teacher (a batched ``TrainingWorkspace`` for float32 weights, an
/// ``InferenceSession`` for native ones), top-K scratch and progress counters; writes shards.
final class ShardRun {
    let builder: TeacherCacheBuilder
    private(set) lazy var workspace = TrainingWorkspace(config: builder.teacher.config, B: builder.batchSize, T: builder.identity.context)
    private(set) lazy var session = InferenceSession(model: builder.teacher, maxT: builder.identity.context)
    let scratch: TopKScratchPool
    let start = Date()
    var positionsDone = 0, examplesDone = 0, tokensDone = 0

    init(builder: TeacherCacheBuilder) {
        self.builder = builder
        scratch = TopKScratchPool(V: builder.teacher.config.vocabSize, K: builder.identity.topK)
    }

    /// Computes shard `shard` (examples shard·perShard ..< min(count, (shard+1)·perShard)), writes
    /// it atomically as `shard-NNNNN.bin` and returns its manifest entry.
    func write(shard: Int, into directory: URL, perShard: Int,
               onEvent: (TeacherCacheEvent) throws -> Void) throws -> TeacherCacheManifest.Shard {
        let b = builder, K = b.identity.topK
        let first = shard * perShard, end = min(b.dataset.examples.count, first + perShard)
        var rows = ShardRows(K: K, stateWidth: b.identity.states)
        for batchStart in stride(from: first, to: end, by: b.batchSize) {
            let n = min(b.batchSize, end - batchStart)
            let before = rows.positions.count
            if b.teacher.native != nil {
                for i in batchStart..<(batchStart + n) { try nativeExample(i, into: &rows) }
            } else {
                batchF32(batchStart, n: n, into: &rows)
            }
            examplesDone += n; positionsDone += rows.positions.count - before
            try onEvent(.progress(examples: examplesDone, positions: positionsDone, tokens: tokensDone,
                                  seconds: Date().timeIntervalSince(start)))
        }
        let file = TeacherCacheShard.fileName(shard)
        try TeacherCacheShard.write(to: directory.appendingPathComponent(file), K: K, firstExample: first, offsets: rows.offsets,
                                    positions: rows.positions, ids: rows.ids, logProbs: rows.logProbs, logTail: rows.logTail,
                                    states: rows.states, stateWidth: rows.stateWidth)
        return .init(file: file, firstExample: first, examples: end - first, rows: rows.positions.count,
                     bytes: TeacherCacheShard.byteCount(examples: end - first, rows: rows.positions.count, K: K, stateWidth: rows.stateWidth))
    }

    /// Examples `first ..< first + n` as one padded (B, T) teacher forward; the output layer runs
    /// only at the supervised rows.
    private func batchF32(_ first: Int, n: Int, into rows: inout ShardRows) {
        let b = builder, tokenizer = b.tokenizer, B = b.batchSize, T = b.identity.context, V = b.teacher.config.vocabSize
        let pad = tokenizer.padTokenID ?? tokenizer.eosTokenID ?? 0
        var tokens = [Int32](repeating: Int32(pad), count: B * T), targets = [Int32](repeating: -1, count: B * T)
        for r in 0..<n {
            packExample(prompt: b.dataset.promptIDs(first + r, tokenizer: tokenizer),
                        response: b.dataset.responseIDs(first + r, tokenizer: tokenizer),
                        T: T, pad: pad, tokens: &tokens, targets: &targets, row: r)
        }
        workspace.setScoredRows(targets: targets)
        b.teacher.forward(tokens: tokens, workspace: workspace)
        let scored = (0..<(n * T)).filter { targets[$0] >= 0 }
        rows.addTopK(logits: workspace.logits.pointer, rows: scored, V: V, temperature: b.identity.temperature, scratch: scratch)
        rows.addStates(workspace.finalHidden, rows: scored)
        for r in 0..<n {
            for t in 0..<T where targets[r * T + t] >= 0 { rows.positions.append(Int32(t)) }
            rows.offsets.append(UInt64(rows.positions.count))
        }
        tokensDone += n * T
    }
}

/// The arrays of one shard as they are filled (layout: ``TeacherCacheShard``).
struct ShardRows {
    let K: Int, stateWidth: Int
    var offsets: [UInt64] = [0], positions: [Int32] = [], ids: [Int32] = [], logProbs: [Float] = [], logTail: [Float] = []
    /// f16 target states (rows, stateWidth), empty without states.
    var states: [UInt16] = []
    init(K: Int, stateWidth: Int = 0) { self.K = K; self.stateWidth = stateWidth }

    /// Appends the hidden-state rows `hidden + rows[m]·Cf` as f16 (nothing without states).
    mutating func addStates(_ hidden: UnsafePointer<Float>, rows: [Int]) {
        let Cf = stateWidth
        guard Cf > 0 else { return }
        // Grown by append (geometric): an exact reserveCapacity per call would copy the whole
        // shard's states at every append, quadratic in the shard (it slowed a 2,048-example
        // shard with states to half speed by its end).
        let base = states.count
        states.append(contentsOf: repeatElement(0, count: rows.count * Cf))
        states.withUnsafeMutableBufferPointer { sb in
            let out = sb.baseAddress! + base
            for (m, r) in rows.enumerated() { for j in 0..<Cf { out[m * Cf + j] = HalfFloat.toF16(hidden[r * Cf + j]) } }
        }
    }

    /// Appends the top-K and log-tail of the logit rows `logits + rows[m]·V`, in parallel.
    mutating func addTopK(logits: UnsafePointer<Float>, rows: [Int], V: Int, temperature: Float, scratch: TopKScratchPool) {
        let K = K, base = logTail.count
        ids.append(contentsOf: repeatElement(0, count: rows.count * K))
        logProbs.append(contentsOf: repeatElement(0, count: rows.count * K))
        logTail.append(contentsOf: repeatElement(0, count: rows.count))
        ids.withUnsafeMutableBufferPointer { idb in
            logProbs.withUnsafeMutableBufferPointer { lpb in
                logTail.withUnsafeMutableBufferPointer { ltb in
                    let idp = idb.baseAddress! + base * K, lpp = lpb.baseAddress! + base * K, ltp = ltb.baseAddress! + base
                    scratch.forEach(rows.count) { m, s in
                        ltp[m] = s.topK(logits + rows[m] * V, V: V, K: K, temperature: temperature,
                                        ids: idp + m * K, logProbs: lpp + m * K)
                    }
                }
            }
        }
    }
}

/// Per-worker buffers for top-K selection over a row of V logits.
final class TopKScratch: @unchecked Sendable {
    var logP: [Float], p: [Float], inTop: [Bool], heap: [(Float, Int32)]
    init(V: Int, K: Int) {
        logP = [Float](repeating: 0, count: V); p = logP; inTop = [Bool](repeating: false, count: V)
        heap = []; heap.reserveCapacity(K)
    }

    /// Writes the K largest `log softmax(u/T)` (descending; ties: lower id first) and their ids,
    /// returns `log Σ_{i∉S} p_i` (−∞ when K = V or the tail underflows).
    func topK(_ u: UnsafePointer<Float>, V: Int, K: Int, temperature: Float, ids: UnsafeMutablePointer<Int32>,
              logProbs: UnsafeMutablePointer<Float>) -> Float {
        logP.withUnsafeMutableBufferPointer { lb in
            p.withUnsafeMutableBufferPointer { pb in
                Divergences.distribution(u, V: V, temperature: temperature, log: lb.baseAddress!, prob: pb.baseAddress!, needLog: true)
            }
        }
        // Min-heap of (logp, id) ordered so the root is the worst kept entry.
        func worse(_ a: (Float, Int32), _ b: (Float, Int32)) -> Bool { a.0 < b.0 || (a.0 == b.0 && a.1 > b.1) }
        heap.removeAll(keepingCapacity: true)
        for j in 0..<V {
            let e = (logP[j], Int32(j))
            if heap.count < K {
                heap.append(e)
                var c = heap.count - 1
                while c > 0 { let par = (c - 1) / 2; if worse(heap[c], heap[par]) { heap.swapAt(c, par); c = par } else { break } }
            } else if worse(heap[0], e) {
                heap[0] = e
                var c = 0
                while true {
                    let l = 2 * c + 1, r = l + 1
                    var m = c
                    if l < K && worse(heap[l], heap[m]) { m = l }
                    if r < K && worse(heap[r], heap[m]) { m = r }
                    if m == c { break }
                    heap.swapAt(c, m); c = m
                }
            }
        }
        heap.sort { worse($1, $0) }
        for (k, e) in heap.enumerated() { ids[k] = e.1; logProbs[k] = e.0; inTop[Int(e.1)] = true }
        var tail = 0.0
        for j in 0..<V where !inTop[j] { tail += Double(p[j]) }
        for e in heap { inTop[Int(e.1)] = false }
        return tail > 0 ? Float(Foundation.log(tail)) : -.infinity
    }
}

/// One ``TopKScratch`` per worker and a fixed contiguous split of rows (results do not depend on
/// the thread count).
final class TopKScratchPool: @unchecked Sendable {
    let scratches: [TopKScratch]
    init(V: Int, K: Int) { scratches = (0..<max(1, Threads.count)).map { _ in TopKScratch(V: V, K: K) } }

    func forEach(_ rows: Int, _ body: (Int, TopKScratch) -> Void) {
        let workers = min(scratches.count, max(1, rows))
        let pool = scratches
        parallelFor(workers) { range in
            for w in range { for m in rows * w / workers ..< rows * (w + 1) / workers { body(m, pool[w]) } }
        }
    }
}
