import Formats
import Foundation

/// What a teacher cache was computed from; a cache is used only when every field matches.
public struct TeacherCacheIdentity: Codable, Equatable, Sendable {
    /// SHA-256 of the target model file (a directory: its files in name order).
    public var targetSHA256: String
    /// SHA-256 of the JSONL data file.
    public var dataSHA256: String
    /// The prompt template (``PromptTemplate`` raw value).
    public var template: String
    /// K, ids stored per position.
    public var topK: Int
    /// The distillation temperature of the stored log-probabilities.
    public var temperature: Float
    /// T, the context examples were packed (left-truncated) to.
    public var context: Int
    /// The tokenizer's vocabulary size.
    public var vocabSize: Int
    /// Cf when the cache also stores the target's final-normed hidden state at every stored
    /// position (f16; what a feature-reading draft trains on, ``FeatureInput``); nil: none. Not
    /// compared by ``mismatch(_:)``: a cache with states serves runs that do not read them.
    public var stateWidth: Int?

    public init(targetSHA256: String, dataSHA256: String, template: String, topK: Int, temperature: Float, context: Int, vocabSize: Int,
                stateWidth: Int? = nil) {
        self.targetSHA256 = targetSHA256; self.dataSHA256 = dataSHA256; self.template = template
        self.topK = topK; self.temperature = temperature; self.context = context; self.vocabSize = vocabSize
        self.stateWidth = stateWidth
    }

    /// Cf of the stored states, 0 without.
    var states: Int { stateWidth ?? 0 }

    /// The first field that differs from `other`, as (name, cached, requested), or nil.
    public func mismatch(_ other: TeacherCacheIdentity) -> (field: String, cached: String, requested: String)? {
        let fields: [(String, String, String)] = [
            ("target model (sha256)", targetSHA256, other.targetSHA256), ("data file (sha256)", dataSHA256, other.dataSHA256),
            ("template", template, other.template), ("top-k", "\(topK)", "\(other.topK)"),
            ("temperature", "\(temperature)", "\(other.temperature)"), ("context", "\(context)", "\(other.context)"),
            ("vocabulary size", "\(vocabSize)", "\(other.vocabSize)"),
        ]
        return fields.first { $0.1 != $0.2 }
    }
}

/// `manifest.json` of a teacher cache directory: the identity and the shards written so far.
/// `complete` is false while a build is under way (an interrupted build resumes after its last shard).
public struct TeacherCacheManifest: Codable, Equatable, Sendable {
    public struct Shard: Codable, Equatable, Sendable {
        /// File name inside the cache directory.
        public var file: String
        public var firstExample: Int, examples: Int, rows: Int, bytes: Int
    }
    public var format = "specdistill-teacher-cache"
    public var version = 1
    public var identity: TeacherCacheIdentity
    /// Examples in the dataset and per shard (the last shard may hold fewer).
    public var examples: Int, examplesPerShard: Int
    public var complete: Bool
    public var shards: [Shard]
    /// How the teacher's weights were held while building (``WeightStorage`` raw value: "native" or
    /// "f32"; absent in caches of
    /// older builds). Informational — not part of the identity, so a complete cache serves either;
    /// a partial one resumes only with the same weights.
    public var weights: String?

    public static let fileName = "manifest.json"

    public static func load(_ directory: URL) throws -> TeacherCacheManifest? {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do { return try JSONDecoder().decode(TeacherCacheManifest.self, from: Data(contentsOf: url)) } catch {
            throw DistillError.data("\(url.path): not a teacher-cache manifest (\(error)); delete the directory and rebuild it")
        }
    }

    func write(_ directory: URL) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(e.encode(self), to: directory.appendingPathComponent(Self.fileName))
    }

    /// Throws unless the shards tile the examples: `examplesPerShard` ≥ 1, shard k starting at
    /// example k·examplesPerShard with min(examplesPerShard, what is left) examples, plain file
    /// names inside the directory, and a sensible identity (K ≥ 1, context ≥ 1).
    func checkLayout(directory: URL) throws {
        let fail = { (why: String) in DistillError.data("teacher cache \(directory.path)/\(Self.fileName): \(why); delete the directory and rebuild it") }
        guard identity.states >= 0 && identity.states <= 1 << 16 else { throw fail("state width \(identity.states) is out of range") }
        guard identity.topK >= 1, identity.context >= 1, identity.vocabSize >= 1 else {
            throw fail("top-k \(identity.topK), context \(identity.context) and vocabulary size \(identity.vocabSize) must be positive")
        }
        guard examples >= 0, examplesPerShard >= 1 else { throw fail("examples \(examples) / examples per shard \(examplesPerShard) are not positive") }
        let needed = examples / examplesPerShard + (examples % examplesPerShard == 0 ? 0 : 1)
        guard shards.count == needed else { throw fail("\(shards.count) shards for \(examples) examples at \(examplesPerShard) per shard (expected \(needed))") }
        for (k, sh) in shards.enumerated() {
            let first = k * examplesPerShard
            guard sh.firstExample == first, sh.examples == min(examplesPerShard, examples - first), sh.rows >= 0 else {
                throw fail("shard \(k) holds examples \(sh.firstExample)..<\(sh.firstExample &+ sh.examples) with \(sh.rows) rows, expected \(first)..<\(first + min(examplesPerShard, examples - first))")
            }
            guard !sh.file.isEmpty, sh.file.utf8.count <= 255, !sh.file.contains("/"), sh.file != ".", sh.file != ".." else {
                throw fail("shard \(k) file name \(ErrorText.name(sh.file).debugDescription) is not a plain file name")
            }
        }
    }

    /// Throws unless `requested` equals the cache's identity, naming the field and the fix.
    public func check(_ requested: TeacherCacheIdentity, directory: URL) throws {
        if let m = identity.mismatch(requested) {
            throw DistillError.data("teacher cache \(directory.path) was built for \(m.field) \(m.cached), this run asks for \(m.requested); rebuild it (specdistill cache build … --out a new directory, or delete this one) or pass the matching setting")
        }
    }
}

/// One shard file, little-endian:
///
///     header   "SDTC", version u32, K u32, examples u32, firstExample u64, rows u64   (32 bytes)
///     offsets  (examples + 1) u64     row range of example i: offsets[i] ..< offsets[i + 1]
///     position (rows) i32             t of the row in the packed (T) sequence (its target ≥ 0)
///     ids      (rows, K) i32          the teacher's top-K ids, most probable first
///     logProbs (rows, K) f32          log p_i at the cache's temperature
///     logTail  (rows) f32             log(1 − Σ_{top-K} p_i), −∞ when K = V
///     states   (rows, Cf) f16         the target's final-normed hidden state (version 2, caches with states)
struct TeacherCacheShard {
    static let magic: UInt32 = 0x4354_4453  // "SDTC"
    static let headerBytes = 32
    let file: MappedFile
    let K: Int, examples: Int, firstExample: Int, rows: Int
    let offsets: UnsafePointer<UInt64>, positions: UnsafePointer<Int32>, ids: UnsafePointer<Int32>
    let logProbs: UnsafePointer<Float>, logTail: UnsafePointer<Float>
    /// (rows, Cf) f16 bit patterns, nil without states.
    let states: UnsafePointer<UInt16>?, stateWidth: Int

    /// The file name of shard `index` inside the cache directory.
    static func fileName(_ index: Int) -> String { String(format: "shard-%05d.bin", index) }

    static func byteCount(examples: Int, rows: Int, K: Int, stateWidth: Int = 0) -> Int {
        headerBytes + 8 * (examples + 1) + 4 * rows + 8 * rows * K + 4 * rows + 2 * rows * stateWidth
    }

    /// Maps and validates one shard against its manifest entry: header fields, the exact file
    /// size (computed without overflow), row offsets ascending from 0 to `rows`, positions inside
    /// the context, ids inside the vocabulary, no NaN log-probabilities. After this, every row
    /// range ``TeacherCache/rows(example:)`` hands out lies inside the file.
    init(url: URL, expected: TeacherCacheManifest.Shard, identity: TeacherCacheIdentity) throws {
        file = try MappedFile(url: url)
        let fail = { (why: String) in DistillError.data("teacher cache shard \(url.path): \(why); delete it (the build resumes and rewrites it)") }
        guard file.count >= Self.headerBytes, let base = file.bytes.baseAddress else { throw fail("truncated (\(file.count) bytes, no header)") }
        guard base.loadUnaligned(as: UInt32.self) == Self.magic else { throw fail("not a shard (bad magic)") }
        K = Int(base.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        examples = Int(base.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        let first = base.loadUnaligned(fromByteOffset: 16, as: UInt64.self), rowCount = base.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        guard K == identity.topK, examples == expected.examples, first == UInt64(max(0, expected.firstExample)), expected.firstExample >= 0,
              rowCount == UInt64(max(0, expected.rows)), expected.rows >= 0 else {
            throw fail("header (K \(K), examples \(examples) from \(first), rows \(rowCount)) disagrees with the manifest")
        }
        firstExample = expected.firstExample
        rows = expected.rows
        stateWidth = identity.states
        let version = base.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        guard version == (stateWidth > 0 ? 2 : 1) else {
            throw fail("version \(version), expected \(stateWidth > 0 ? "2 (with target states)" : "1") as the manifest says")
        }
        // Each row takes 8 + 8K (+ 2 Cf) bytes and each example 8: bound both by the file before multiplying.
        guard K >= 1, rows <= file.count / (8 + 8 * K + 2 * stateWidth), examples <= file.count / 8 else {
            throw fail("\(rows) rows of K = \(K) and \(examples) examples cannot fit in \(file.count) bytes")
        }
        let size = Self.byteCount(examples: examples, rows: rows, K: K, stateWidth: stateWidth)
        guard file.count == size else { throw fail("truncated or corrupt: \(file.count) bytes, expected \(size)") }
        var at = Self.headerBytes
        func take<T>(_ n: Int, _ type: T.Type) -> UnsafePointer<T> {
            defer { at += n * MemoryLayout<T>.stride }
            return (base + at).assumingMemoryBound(to: T.self)
        }
        offsets = take(examples + 1, UInt64.self); positions = take(rows, Int32.self)
        ids = take(rows * K, Int32.self); logProbs = take(rows * K, Float.self); logTail = take(rows, Float.self)
        states = stateWidth > 0 ? take(rows * stateWidth, UInt16.self) : nil
        guard offsets[0] == 0, offsets[examples] == UInt64(rows) else { throw fail("corrupt row offsets (not from 0 to \(rows))") }
        for i in 0..<examples where offsets[i + 1] < offsets[i] {
            throw fail("row offsets decrease at example \(firstExample + i) (\(offsets[i]) then \(offsets[i + 1]))")
        }
        for r in 0..<rows where positions[r] < 0 || Int(positions[r]) >= identity.context || logTail[r].isNaN {
            throw fail("row \(r) has position \(positions[r]) (context \(identity.context)) or log tail \(logTail[r])")
        }
        if let states {
            // f16 with every exponent bit set is ±Inf or NaN.
            for j in 0..<(rows * stateWidth) where states[j] & 0x7C00 == 0x7C00 {
                throw fail("target state \(j / stateWidth) holds a non-finite value (entry \(j % stateWidth))")
            }
        }
        for j in 0..<(rows * K) where ids[j] < 0 || Int(ids[j]) >= identity.vocabSize || logProbs[j].isNaN || logProbs[j] == .infinity {
            throw fail("entry \(j) has id \(ids[j]) (vocabulary \(identity.vocabSize)) or log-probability \(logProbs[j])")
        }
    }

    /// Writes a shard atomically (temporary name, then rename).
    static func write(to url: URL, K: Int, firstExample: Int, offsets: [UInt64], positions: [Int32], ids: [Int32],
                      logProbs: [Float], logTail: [Float], states: [UInt16] = [], stateWidth: Int = 0) throws {
        precondition(states.count == positions.count * stateWidth, "TeacherCacheShard.write: \(states.count) state values for \(positions.count) rows")
        var data = Data(capacity: byteCount(examples: offsets.count - 1, rows: positions.count, K: K, stateWidth: stateWidth))
        func append<T>(_ values: [T]) { values.withUnsafeBytes { data.append(contentsOf: $0) } }
        append([magic, stateWidth > 0 ? 2 : 1, UInt32(K), UInt32(offsets.count - 1)])
        append([UInt64(firstExample), UInt64(positions.count)])
        append(offsets); append(positions); append(ids); append(logProbs); append(logTail); append(states)
        try AtomicFile.write(data, to: url)
    }
}

/// A complete teacher cache opened for reading: shards memory-mapped, rows found by example index.
public final class TeacherCache {
    public let directory: URL
    public let manifest: TeacherCacheManifest
    let shards: [TeacherCacheShard]
    public var K: Int { manifest.identity.topK }

    /// Opens the cache in `directory`, checking it is complete, matches `identity` and every
    /// shard's size. Errors name the mismatching field or the bad shard file.
    public init(directory: URL, identity: TeacherCacheIdentity) throws {
        guard let m = try TeacherCacheManifest.load(directory) else {
            throw DistillError.data("\(directory.path): no teacher cache (manifest.json missing); build it with specdistill cache build")
        }
        try m.check(identity, directory: directory)
        guard m.complete else {
            throw DistillError.data("teacher cache \(directory.path) is incomplete (\(m.shards.count) shards); run the build again to resume it")
        }
        try m.checkLayout(directory: directory)
        self.directory = directory; manifest = m
        shards = try m.shards.map { try TeacherCacheShard(url: directory.appendingPathComponent($0.file), expected: $0, identity: m.identity) }
    }

    /// The stored rows of example `i`: their positions t and pointers to (count, K) ids,
    /// (count, K) log-probs and (count) log tails.
    public func rows(example i: Int) -> (positions: UnsafeBufferPointer<Int32>, ids: UnsafePointer<Int32>,
                                          logProbs: UnsafePointer<Float>, logTail: UnsafePointer<Float>, states: UnsafePointer<UInt16>?) {
        precondition(i >= 0 && i < manifest.examples, "TeacherCache: example \(i) outside 0..<\(manifest.examples)")
        let s = shards[i / manifest.examplesPerShard], local = i - s.firstExample
        let start = Int(s.offsets[local]), end = Int(s.offsets[local + 1])
        return (UnsafeBufferPointer(start: s.positions + start, count: end - start), s.ids + start * s.K,
                s.logProbs + start * s.K, s.logTail + start, s.states.map { $0 + start * s.stateWidth })
    }

    /// Cf of the stored target states (0: the cache has none).
    public var stateWidth: Int { manifest.identity.states }
}
