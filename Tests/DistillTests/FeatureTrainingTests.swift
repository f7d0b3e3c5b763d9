import Distill
import Formats
import Foundation
import Tensor
import TestSupport
import Tokenizers
import Transformer
import XCTest

/// Training a draft that reads the target's hidden states: teacher caches with states, the
/// staleness rule of the batches, and training from the cache against training with the live
/// teacher.
final class FeatureTrainingTests: XCTestCase {
    let T = 16
    let cacheTests = TeacherCacheTests(name: "helpers", testClosure: { _ in })

    func setup(K: Int? = nil) throws -> (Tokenizer, TransformerModel, PromptDataset, TeacherCacheIdentity) {
        var s = try cacheTests.setup(K: K)
        s.3.stateWidth = s.1.config.hiddenSize
        return s
    }

    /// Stored states equal the teacher's final-normed hidden states at the stored positions (f16
    /// rounding) on the float32 batch path.
    func testCacheStoresTheTeachersStates() throws {
        let s = try setup()
        let (tok, teacher, data, id) = s
        let C = teacher.config.hiddenSize
        var b = TeacherCacheBuilder(teacher: teacher, tokenizer: tok, dataset: data, identity: id)
        b.examplesPerShard = 3; b.batchSize = 2
        let cache = try b.build(into: try cacheTests.tempDir())
        XCTAssertEqual(cache.stateWidth, C)
        let ws = TrainingWorkspace(config: teacher.config, B: 1, T: T)
        var checked = 0
        for i in 0..<data.examples.count {
            var tokens = [Int32](repeating: 0, count: T), targets = [Int32](repeating: -1, count: T)
            packExample(prompt: data.promptIDs(i, tokenizer: tok), response: data.responseIDs(i, tokenizer: tok),
                        T: T, pad: tok.padTokenID ?? tok.eosTokenID ?? 0, tokens: &tokens, targets: &targets, row: 0)
            teacher.forward(tokens: tokens, workspace: ws)
            let stored = cache.rows(example: i)
            guard let states = stored.states else { return XCTFail("example \(i) has no states") }
            for (m, t) in stored.positions.enumerated() {
                for j in 0..<C {
                    let want = ws.finalHidden[Int(t) * C + j], got = HalfFloat.fromF16(states[m * C + j])
                    XCTAssertEqual(got, want, accuracy: 1e-3 * max(1, abs(want)), "example \(i) t \(t) j \(j)")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20)
        // A cache without states is refused to a run that reads them, and a state build into it
        // is refused naming the difference.
        var plainID = id
        plainID.stateWidth = nil
        let plainDir = try cacheTests.tempDir()
        let plain = try TeacherCacheBuilder(teacher: teacher, tokenizer: tok, dataset: data, identity: plainID).build(into: plainDir)
        XCTAssertThrowsError(try TeacherCacheSource(dataset: data, tokenizer: tok, cache: plain, withStates: true)) {
            XCTAssertTrue("\($0)".contains("--states"), "\($0)")
        }
        XCTAssertThrowsError(try TeacherCacheBuilder(teacher: teacher, tokenizer: tok, dataset: data, identity: id).build(into: plainDir)) {
            XCTAssertTrue("\($0)".contains("target states"), "\($0)")
        }
        // A non-finite state (f16 exponent all ones) is refused; a truncated version-2 shard names the file.
        let dir = cache.directory, entry = cache.manifest.shards[0], shard = dir.appendingPathComponent(entry.file)
        let bytes = try Data(contentsOf: shard)
        let statesStart = 32 + 8 * (entry.examples + 1) + 4 * entry.rows + 8 * entry.rows * id.topK + 4 * entry.rows
        XCTAssertEqual(bytes.count, statesStart + 2 * entry.rows * C)
        var corrupt = bytes
        corrupt[statesStart + 2 * 5 + 1] = 0x7E   // entry 5: a NaN
        try corrupt.write(to: shard)
        XCTAssertThrowsError(try TeacherCache(directory: dir, identity: id)) { XCTAssertTrue("\($0)".contains("non-finite"), "\($0)") }
        try bytes.dropLast(2).write(to: shard)
        XCTAssertThrowsError(try TeacherCache(directory: dir, identity: id)) { XCTAssertTrue("\($0)".contains(shard.path), "\($0)") }
    }

    /// The native path (one session per example, appends of 3 rows) stores the session's hidden
    /// states: they equal the float32 path's states built from the same Q8_0 file to the
    /// quantised kernels' rounding (8-bit activations), far below the states' scale of ~1.
    func testNativeCacheStoresTheSessionsStates() throws {
        let n = TeacherCacheNativeTests(name: "helpers", testClosure: { _ in })
        var s = try n.setup()
        s.identity.stateWidth = s.native.config.hiddenSize
        let native = try n.builder(s.native, s).build(into: try n.tempDir()), f32 = try n.builder(s.f32, s).build(into: try n.tempDir())
        let C = s.native.config.hiddenSize
        var worst: Float = 0, rows = 0, scale: Float = 0
        for i in 0..<s.data.examples.count {
            let a = native.rows(example: i), b = f32.rows(example: i)
            XCTAssertEqual(Array(a.positions), Array(b.positions))
            for j in 0..<(a.positions.count * C) {
                let x = HalfFloat.fromF16(a.states![j]), y = HalfFloat.fromF16(b.states![j])
                worst = Swift.max(worst, Swift.abs(x - y)); scale = Swift.max(scale, Swift.abs(y))
            }
            rows += a.positions.count
        }
        XCTAssertGreaterThan(rows, 20)
        XCTAssertGreaterThan(scale, 0.5, "states of a normed layer have entries of order 1")
        XCTAssertLessThan(worst, 0.05 * scale, "native and float32 states differ by \(worst) (scale \(scale))")
    }

    /// p(d) ∝ 0.6^{d−1}; rows read the state d positions back only where that position is
    /// supervised, and the draws follow p (20,000 rows; a wrong table moves a cell by > 0.05).
    func testStalenessRule() {
        let p = FeatureStaleness.probabilities(D: 4)
        XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertEqual(p[1] / p[0], 0.6, accuracy: 1e-12)
        let B = 40, T = 500, Cf = 2, D = 4
        let fs = FeatureScratch(rows: B * T, C: 3, Cf: Cf)
        // Supervised rows: t ≥ 100 in every sequence; states hold (b, t).
        let targets = (0..<(B * T)).map { Int32($0 % T >= 100 ? 1 : -1) }
        let states = (0..<(B * T)).flatMap { [Float($0 / T), Float($0 % T)] }
        var rng = FeatureStaleness.generator(seed: 3, step: 0, microBatch: 0)
        states.withUnsafeBufferPointer { FeatureStaleness.fill(fs, states: $0.baseAddress!, targets: targets, B: B, T: T, D: D, rng: &rng) }
        var counts = [Int](repeating: 0, count: D + 1)
        for r in 0..<(B * T) {
            let t = r % T, d = Int(fs.staleness[r])
            counts[d] += 1
            if d == 0 { continue }
            XCTAssertGreaterThanOrEqual(t - d, 100, "row \(r) read an unsupervised position")
            XCTAssertEqual(fs.input.pointer[r * Cf], Float(r / T)); XCTAssertEqual(fs.input.pointer[r * Cf + 1], Float(t - d))
        }
        // Rows with t ≥ 104 always find their state; rows with t < 101 never do.
        let eligible = Double(B * (T - 104))
        for d in 1...D {
            let share = Double(counts[d]) / Double(B * (T - 100))
            XCTAssertEqual(share, p[d - 1], accuracy: 0.05 * max(p[d - 1], 0.2), "staleness \(d): \(counts[d]) of \(eligible)")
        }
        var again = FeatureStaleness.generator(seed: 3, step: 0, microBatch: 0), other = FeatureStaleness.generator(seed: 3, step: 1, microBatch: 0)
        var same = FeatureStaleness.generator(seed: 3, step: 0, microBatch: 0)
        XCTAssertEqual(again.next(), same.next())
        XCTAssertNotEqual(again.next(), other.next())
    }

    /// With K = V the cache holds the teacher's distribution exactly and its states to f16: the
    /// first step's loss and (clipped) gradient of a feature draft trained from it equal those with
    /// the live teacher, whose forward supplies float32 states, to f16 rounding (parameters after
    /// Adam steps are no oracle here: Adam turns the rounding of near-zero gradients into ±lr);
    /// W gets a gradient, and three steps move it away from zero.
    func testFeatureDraftFromCacheEqualsLiveTeacher() throws {
        var s = try setup(K: 0)
        s.3.topK = s.1.config.vocabSize; s.3.temperature = 1
        var b = TeacherCacheBuilder(teacher: s.1, tokenizer: s.0, dataset: s.2, identity: s.3)
        b.examplesPerShard = 4
        let cache = try b.build(into: try cacheTests.tempDir())
        var settings = TrainingSettings()
        settings.steps = 3; settings.batchSize = 3; settings.context = T; settings.seed = 9
        settings.optimizer = AdamWSettings(learningRate: 1e-3)
        func draft() throws -> TransformerModel {
            try s.1.truncatedCopy(layers: [0]).addingFeatureInput(staleness: 3, width: s.1.config.hiddenSize)
        }
        let objective = DistillationObjective(divergence: .forwardKL)
        let live = try draft(), cached = try draft()
        var liveSource = try DistillationSource(dataset: s.2, tokenizer: s.0, kind: .fixed, lambda: 0, teacher: nil, student: nil)
        let liveTrainer = try Trainer(model: live, teacher: s.1, objective: objective, settings: settings, runDirectory: nil)
        var cachedSource = try TeacherCacheSource(dataset: s.2, tokenizer: s.0, cache: cache, withStates: true)
        let cachedTrainer = try Trainer(model: cached, objective: objective, settings: settings, runDirectory: nil, teacherFromCache: true)
        let a = try liveTrainer.trainStep(source: &liveSource), c = try cachedTrainer.trainStep(source: &cachedSource)
        XCTAssertEqual(c.loss, a.loss, accuracy: 1e-4 * abs(a.loss))
        let gLive = live.gradients.flat.array, gCached = cached.gradients.flat.array
        let scale = gLive.map(abs).max()!, worst = zip(gLive, gCached).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 2e-3 * scale, "gradients differ by \(worst) (largest \(scale))")
        let dW = cached.gradients[FeatureInput.parameterName]
        XCTAssertGreaterThan((0..<dW.count).map { abs(dW.pointer[$0]) }.max()!, 1e-3 * scale, "no gradient reached W")
        try cachedTrainer.run(source: &cachedSource)
        let W = cached.parameters[FeatureInput.parameterName]
        XCTAssertGreaterThan((0..<W.count).map { abs(W.pointer[$0]) }.max()!, 1e-4, "W did not move")
        // Without states the trainer refuses to train the feature draft from the cache.
        var noStates = try TeacherCacheSource(dataset: s.2, tokenizer: s.0, cache: cache)
        XCTAssertThrowsError(try Trainer(model: try draft(), objective: objective, settings: settings, runDirectory: nil, teacherFromCache: true)
            .run(source: &noStates)) { XCTAssertTrue("\($0)".contains("--states"), "\($0)") }
    }
}
