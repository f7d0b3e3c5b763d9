import Distill
import Formats
import Foundation
import Tensor
import TestSupport
import Tokenizers
import Transformer
import XCTest

final class TeacherCacheTests: XCTestCase {
    static let corpus = ["the cat sat on the mat", "a dog ran in the park", "one two three four five six",
                         "the quick brown fox jumps over the lazy dog", "seven eight nine ten",
                         "the dog sat in the sun", "a cat ran over the mat", "four five six seven eight"]
    let T = 16

    func setup(K: Int? = nil) throws -> (Tokenizer, TransformerModel, PromptDataset, TeacherCacheIdentity) {
        let tok = try BPETrainer(vocabularySize: 280).train(Self.corpus)
        let config = ModelConfig.preset("tiny", vocabSize: tok.vocabularySize, context: 32)!
        let teacher = try TransformerModel(config: config)
        teacher.initialize(seed: 1)
        Elementwise.scale(teacher.parameters["lm_head.weight"].pointer, by: 20, count: teacher.parameters["lm_head.weight"].count)
        let identity = TeacherCacheIdentity(targetSHA256: "aa", dataSHA256: "bb", template: "plain", topK: K ?? 8, temperature: 1.5,
                                            context: T, vocabSize: tok.vocabularySize)
        return (tok, teacher, TinyPair.dataset(Self.corpus), identity)
    }

    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("tcache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    func builder(_ s: (Tokenizer, TransformerModel, PromptDataset, TeacherCacheIdentity)) -> TeacherCacheBuilder {
        var b = TeacherCacheBuilder(teacher: s.1, tokenizer: s.0, dataset: s.2, identity: s.3)
        b.examplesPerShard = 3; b.batchSize = 2
        return b
    }

    /// Stored top-K ids, log-probs and tails equal the teacher's full distribution computed here
    /// directly (one sequence at a time, Double log-softmax): float tolerance of the logits.
    func testRoundTripMatchesTheTeacher() throws {
        let s = try setup()
        let cache = try builder(s).build(into: try tempDir())
        let (tok, teacher, data, id) = s
        let V = teacher.config.vocabSize, K = id.topK
        let ws = TrainingWorkspace(config: teacher.config, B: 1, T: T)
        var checked = 0
        for i in 0..<data.examples.count {
            var tokens = [Int32](repeating: 0, count: T), targets = [Int32](repeating: -1, count: T)
            packExample(prompt: data.promptIDs(i, tokenizer: tok), response: PromptDataset.responseIDs(data.examples[i].response!, tokenizer: tok),
                        T: T, pad: tok.padTokenID ?? tok.eosTokenID ?? 0, tokens: &tokens, targets: &targets, row: 0)
            teacher.forward(tokens: tokens, workspace: ws)
            let stored = cache.rows(example: i)
            let supervised = (0..<T).filter { targets[$0] >= 0 }
            XCTAssertEqual(stored.positions.map { Int($0) }, supervised, "example \(i) positions")
            for (m, t) in supervised.enumerated() {
                assertCachedRow(stored, m, K: K, teacher: (0..<V).map { Double(ws.logits.pointer[t * V + $0]) },
                                temperature: id.temperature, "example \(i) t \(t)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20)
    }

    /// With K = V the cache holds the teacher exactly, so training from it equals training with the
    /// live teacher for every fixed-data objective (same batches, same initialisation): parameters
    /// after 3 AdamW steps agree to float tolerance (differences are float rounding of p, ~1e-7
    /// relative, through three Adam steps of lr 1e-3; a wrong term moves parameters by ~lr).
    func testTrainingFromFullCacheEqualsLiveTeacher() throws {
        let s = try setup(K: 0)
        var fullIdentity = s.3
        fullIdentity.topK = s.1.config.vocabSize
        fullIdentity.temperature = 1
        var b = TeacherCacheBuilder(teacher: s.1, tokenizer: s.0, dataset: s.2, identity: fullIdentity)
        b.examplesPerShard = 4
        let cache = try b.build(into: try tempDir())
        var settings = TrainingSettings()
        settings.steps = 3; settings.batchSize = 3; settings.context = T; settings.seed = 9
        settings.optimizer = AdamWSettings(learningRate: 1e-3)
        let objectives: [any Objective] = [DistillationObjective(divergence: .forwardKL), DistillationObjective(divergence: .reverseKL),
                                           DistillationObjective(divergence: .jsd(beta: 0.5)), DistillationObjective(divergence: .tvd),
                                           AdaSPECObjective(keepFraction: 0.5)]
        let reference = try TransformerModel(config: s.1.config)
        reference.initialize(seed: 3)
        for objective in objectives {
            let live = try TransformerModel(config: s.1.config), cached = try TransformerModel(config: s.1.config)
            live.initialize(seed: 2); cached.initialize(seed: 2)
            let liveTrainer = try Trainer(model: live, teacher: s.1, reference: reference, objective: objective, settings: settings, runDirectory: nil)
            var liveSource = try DistillationSource(dataset: s.2, tokenizer: s.0, kind: .fixed, lambda: 0, teacher: nil, student: nil)
            try liveTrainer.run(source: &liveSource)
            let cachedTrainer = try Trainer(model: cached, reference: reference, objective: objective, settings: settings, runDirectory: nil,
                                            teacherFromCache: true)
            var cachedSource = try TeacherCacheSource(dataset: s.2, tokenizer: s.0, cache: cache)
            try cachedTrainer.run(source: &cachedSource)
            let before = try TransformerModel(config: s.1.config)
            before.initialize(seed: 2)
            let moved = zip(live.parameters.flat.array, before.parameters.flat.array).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(moved, 1e-4, "\(objective.name): training did not move the parameters")
            assertClose(cached.parameters.flat.array, live.parameters.flat.array, rtol: 1e-3, atol: 2e-5, "\(objective.name) parameters")
        }
    }

    /// A build interrupted after its first shard (the callback throws) and run again ends with the
    /// same files, byte for byte, as an uninterrupted build.
    func testInterruptedBuildResumesByteIdentical() throws {
        let s = try setup()
        let whole = try tempDir(), split = try tempDir()
        try builder(s).build(into: whole)
        struct Stop: Error {}
        XCTAssertThrowsError(try builder(s).build(into: split) { if case .shardWritten(0, _) = $0 { throw Stop() } })
        let partial = try XCTUnwrap(try TeacherCacheManifest.load(split))
        XCTAssertFalse(partial.complete)
        XCTAssertEqual(partial.shards.count, 1)
        XCTAssertThrowsError(try TeacherCache(directory: split, identity: s.3)) { XCTAssertTrue("\($0)".contains("incomplete"), "\($0)") }
        // What a kill -9 inside shard writes leaves: a torn temporary shard of AtomicFile and one of
        // Foundation's atomic writes (both removed by the resumed build, or the directories differ).
        try Data([1, 2, 3]).write(to: split.appendingPathComponent(".shard-00001.bin" + AtomicFile.partialSuffix))
        try Data([4, 5]).write(to: split.appendingPathComponent(".dat.nosync1A2B.x7Yz9Q"))
        var skipped = -1
        try builder(s).build(into: split) { if case .started(_, _, let k) = $0 { skipped = k } }
        XCTAssertEqual(skipped, 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: whole.path).sorted()
        XCTAssertEqual(files, try FileManager.default.contentsOfDirectory(atPath: split.path).sorted())
        XCTAssertEqual(files.count, 1 + 3, "manifest + ceil(8 / 3) shards")
        for f in files {
            XCTAssertEqual(try Data(contentsOf: whole.appendingPathComponent(f)), try Data(contentsOf: split.appendingPathComponent(f)), f)
        }
    }

    /// A cache is refused for another target, data file, template, K, temperature, context or
    /// vocabulary, with an error naming the field; by the reader and by a new build alike.
    func testMismatchedIdentityIsRefusedNamingTheField() throws {
        let s = try setup()
        let dir = try tempDir()
        try builder(s).build(into: dir)
        let changes: [(String, (inout TeacherCacheIdentity) -> Void)] = [
            ("target model", { $0.targetSHA256 = "cc" }), ("data file", { $0.dataSHA256 = "dd" }), ("template", { $0.template = "chatml" }),
            ("top-k", { $0.topK = 4 }), ("temperature", { $0.temperature = 1 }), ("context", { $0.context = 12 }),
            ("vocabulary size", { $0.vocabSize += 1 }),
        ]
        for (field, change) in changes {
            var other = s.3
            change(&other)
            XCTAssertThrowsError(try TeacherCache(directory: dir, identity: other)) {
                XCTAssertTrue("\($0)".contains(field) && "\($0)".contains("rebuild"), "\(field): \($0)")
            }
            var b = builder(s)
            b = TeacherCacheBuilder(teacher: b.teacher, tokenizer: b.tokenizer, dataset: b.dataset, identity: other)
            b.examplesPerShard = 3
            XCTAssertThrowsError(try b.build(into: dir)) { XCTAssertTrue("\($0)".contains(field), "\(field): \($0)") }
        }
        XCTAssertNoThrow(try TeacherCache(directory: dir, identity: s.3))
    }

    /// A truncated shard is reported with its file name.
    func testTruncatedShardNamesTheFile() throws {
        let s = try setup()
        let dir = try tempDir()
        try builder(s).build(into: dir)
        let shard = dir.appendingPathComponent("shard-00001.bin")
        let bytes = try Data(contentsOf: shard)
        try bytes.prefix(bytes.count - 7).write(to: shard)
        XCTAssertThrowsError(try TeacherCache(directory: dir, identity: s.3)) {
            XCTAssertTrue("\($0)".contains(shard.path) && "\($0)".contains("truncated"), "\($0)")
        }
    }
}

extension XCTestCase {
    /// Row m of a cached example equals the top-K of `log softmax(u / temperature)` computed in
    /// Double from the teacher's logits u: same ids, log-probs and log tail to float tolerance.
    func assertCachedRow(_ stored: (positions: UnsafeBufferPointer<Int32>, ids: UnsafePointer<Int32>, logProbs: UnsafePointer<Float>,
                                    logTail: UnsafePointer<Float>, states: UnsafePointer<UInt16>?), _ m: Int, K: Int, teacher u: [Double], temperature: Float,
                         _ label: String, tolerance: Double = 1e-5, file: StaticString = #filePath, line: UInt = #line) {
        let row = TestSparseRow(teacher: u, K: K, temperature: Double(temperature))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: stored.ids + m * K, count: K)), row.ids, "\(label) ids", file: file, line: line)
        assertClose(Array(UnsafeBufferPointer(start: stored.logProbs + m * K, count: K)), row.logProbs, rtol: tolerance, atol: tolerance,
                    "\(label) log-probs", file: file, line: line)
        assertClose(Double(stored.logTail[m]), Double(row.logTail), rtol: 1e-4, atol: max(1e-5, tolerance), "\(label) log tail",
                    file: file, line: line)
    }
}
