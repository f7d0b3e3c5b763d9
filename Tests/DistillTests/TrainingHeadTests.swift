import Distill
import Foundation
import Tensor
import TestSupport
import Transformer
import XCTest

/// The restricted output layer of training (TransformerModel+TrainingHead): logits only at the
/// supervised rows, and a trimmed head over a subset S of the vocabulary. The oracle is the full
/// head: a forward over every row and all V columns, and a backward from a dLogits that is zero
/// outside the supervised rows and outside S's columns — which is exactly what the restricted
/// head claims to be equivalent to.
final class TrainingHeadTests: XCTestCase {
    /// Float32 sgemm on a sub-range of rows may block the sum differently from the whole batch;
    /// differences stay at a few ulps of the accumulated magnitudes (K = C = 16 or rows ≤ 24 terms).
    static let rtol = 1e-4, atol = 1e-5

    func tinyConfig(tied: Bool) -> ModelConfig {
        ModelConfig(architecture: .llama, vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 2,
                    intermediateSize: 24, maxPositions: 16, tieWordEmbeddings: tied)
    }

    /// Tokens and targets of a (3, 8) batch whose first 3 positions of each row (a prompt) and the
    /// last one are unsupervised.
    func batch(V: Int) -> (tokens: [Int32], targets: [Int32]) {
        var rng = RandomGenerator(seed: 9)
        let B = 3, T = 8
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
        let targets = (0..<(B * T)).map { r -> Int32 in
            let t = r % T
            return t >= 3 && t < T - 1 ? Int32(rng.next() % UInt64(V)) : -1
        }
        return (tokens, targets)
    }

    func model(tied: Bool) throws -> TransformerModel {
        let m = try TransformerModel(config: tinyConfig(tied: tied))
        m.initialize(seed: 4)
        return m
    }

    /// Restricting the head to supervised rows and to a subset gives the full head's logits at
    /// those rows and columns, zeros elsewhere, and the same parameter gradients as the full
    /// head backpropagating the same (scattered) dLogits — tied and untied heads.
    func testRestrictedHeadMatchesFullHead() throws {
        for tied in [true, false] {
            let full = try model(tied: tied), restricted = try model(tied: tied)
            let V = full.config.vocabSize, B = 3, T = 8
            let (tokens, targets) = batch(V: V)
            let subset = [0, 3, 4, 7, 11, 19, 20, 33, 39]
            let wsFull = TrainingWorkspace(config: full.config, B: B, T: T)
            let wsRestricted = TrainingWorkspace(config: restricted.config, B: B, T: T)
            wsRestricted.setOutputSubset(subset)
            wsRestricted.setScoredRows(targets: targets)
            full.forward(tokens: tokens, workspace: wsFull)
            restricted.forward(tokens: tokens, workspace: wsRestricted)
            let K = subset.count
            XCTAssertEqual(wsRestricted.logits.shape, [B, T, K])
            var rng = RandomGenerator(seed: 12)
            var dSub = [Float](repeating: 0, count: B * T * K), dFull = [Float](repeating: 0, count: B * T * V)
            for r in 0..<(B * T) {
                for (j, id) in subset.enumerated() {
                    let got = wsRestricted.logits.pointer[r * K + j]
                    if targets[r] >= 0 {
                        let want = wsFull.logits.pointer[r * V + id]
                        XCTAssertEqual(Double(got), Double(want), accuracy: Self.atol + Self.rtol * abs(Double(want)), "tied \(tied) row \(r) id \(id)")
                        let g = Float(rng.normal())
                        dSub[r * K + j] = g; dFull[r * V + id] = g
                    } else {
                        XCTAssertEqual(got, 0, "unsupervised row \(r) must be 0")
                    }
                }
            }
            full.gradients.zero(); restricted.gradients.zero()
            dFull.withUnsafeBufferPointer { full.backward(dLogits: $0.baseAddress!, workspace: wsFull) }
            dSub.withUnsafeBufferPointer { restricted.backward(dLogits: $0.baseAddress!, workspace: wsRestricted) }
            let c = compare(Array(UnsafeBufferPointer(start: restricted.gradients.flat.pointer, count: restricted.gradients.count)),
                            Array(UnsafeBufferPointer(start: full.gradients.flat.pointer, count: full.gradients.count)),
                            rtol: Self.rtol, atol: Self.atol)
            XCTAssertTrue(c.passed, "tied \(tied): gradients differ: \(c)")
            // Rows of the head outside S and unsupervised positions got nothing from the head:
            // with an untied head, the rows outside S stay exactly 0.
            if !tied {
                let g = restricted.gradientPointers.lmHead, C = full.config.hiddenSize
                for id in 0..<V where !subset.contains(id) {
                    XCTAssertTrue((0..<C).allSatisfy { g[id * C + $0] == 0 }, "head row \(id) outside the subset has a gradient")
                }
            }
        }
    }

    /// Softmax over the gathered teacher logits is the teacher's distribution conditioned on the
    /// subset, p(x)/p(S), computed here independently in Double from the full logits.
    func testGatheredTeacherIsConditionalDistribution() {
        var rng = RandomGenerator(seed: 3)
        let V = 30, rows = 4, ids: [Int32] = [1, 2, 5, 8, 13, 21, 29]
        let logits = (0..<(rows * V)).map { _ in Float(rng.normal() * 2) }
        let targets: [Int32] = [4, -1, 0, 7]
        var out = [Float](repeating: .nan, count: rows * ids.count)
        logits.withUnsafeBufferPointer { l in targets.withUnsafeBufferPointer { t in out.withUnsafeMutableBufferPointer { o in
            LogitWidth.gatherColumns(l.baseAddress!, width: V, ids: ids, into: o.baseAddress!, targets: t.baseAddress!, rows: rows)
        } } }
        for r in 0..<rows {
            let row = out[(r * ids.count)..<((r + 1) * ids.count)]
            if targets[r] < 0 { XCTAssertTrue(row.allSatisfy { $0.isNaN }, "unsupervised rows are left alone"); continue }
            let p = (0..<V).map { exp(Double(logits[r * V + $0])) }
            let pS = ids.reduce(0.0) { $0 + p[Int($1)] }
            let q = row.map { exp(Double($0)) }, z = q.reduce(0, +)
            for (j, id) in ids.enumerated() { XCTAssertEqual(q[j] / z, p[Int(id)] / pS, accuracy: 1e-6) }
        }
    }

    /// A trainer with an output subset equal to the whole vocabulary takes the same steps as one
    /// without (the restricted head is exact, not an approximation).
    func testTrainerWithFullSubsetMatchesPlainTrainer() throws {
        let teacher = try model(tied: true)
        let V = teacher.config.vocabSize
        func run(subset: [Int]?) throws -> [Float] {
            let m = try TransformerModel(config: tinyConfig(tied: true)); m.initialize(seed: 8)
            var s = TrainingSettings()
            s.steps = 3; s.batchSize = 2; s.context = 8; s.seed = 2; s.outputSubset = subset
            s.optimizer = AdamWSettings(learningRate: 1e-2)
            let trainer = try Trainer(model: m, teacher: teacher, objective: DistillationObjective(divergence: .forwardKL),
                                      settings: s, runDirectory: nil)
            var source = TokenStreamSource(tokens: (0..<500).map { Int32(($0 * 7) % V) })
            try trainer.run(source: &source)
            return Array(UnsafeBufferPointer(start: m.parameters.flat.pointer, count: m.parameters.count))
        }
        let plain = try run(subset: nil), subset = try run(subset: Array(0..<V))
        let c = compare(subset, plain, rtol: Self.rtol, atol: Self.atol)
        XCTAssertTrue(c.passed, "\(c)")
        // And a real subset trains differently (the test can fail).
        let trimmed = try run(subset: Array(stride(from: 0, to: V, by: 2)))
        XCTAssertFalse(compare(trimmed, plain, rtol: Self.rtol, atol: Self.atol).passed)
    }

    /// Bad subsets are refused with a message, not a crash inside the kernels.
    func testTrainerRefusesBadSubset() throws {
        let m = try model(tied: true)
        var s = TrainingSettings()
        s.batchSize = 1; s.context = 4
        for bad in [[], [3, 2], [1, 1], [0, 40]] {
            s.outputSubset = bad
            XCTAssertThrowsError(try Trainer(model: m, teacher: m, objective: DistillationObjective(divergence: .forwardKL), settings: s, runDirectory: nil), "\(bad)")
        }
        s.outputSubset = [0, 1]
        XCTAssertThrowsError(try Trainer(model: m, objective: CrossEntropyObjective(), settings: s, runDirectory: nil),
                             "cross-entropy scores target ids, which are not subset columns")
    }
}
