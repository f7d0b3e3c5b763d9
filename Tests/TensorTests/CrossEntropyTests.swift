import Foundation
import Tensor
import TestSupport
import XCTest

final class CrossEntropyTests: XCTestCase {
    /// Targets in 0..<V with every `ignoreEvery`-th row ignored (-1; 0 for none).
    private func targets(_ rows: Int, V: Int, ignoreEvery: Int, rng: inout RandomGenerator) -> [Int32] {
        (0..<rows).map { r in ignoreEvery > 0 && r % ignoreEvery == 1 ? -1 : Int32(rng.next() % UInt64(V)) }
    }

    func testForwardAndBackwardMatchReferences() {
        var rng = RandomGenerator(seed: 601)
        for (rows, V) in kernelShapes {
            let z = rng.normalTensor([rows, V], std: 3)
            let t = targets(rows, V: V, ignoreEvery: 3, rng: &rng)
            let l = Tensor(zeros: [rows]), lR = Tensor(zeros: [rows])
            let dz = rng.normalTensor([rows, V]), dzR = dz.copy()
            t.withUnsafeBufferPointer { p in
                let (s, n) = CrossEntropy.forward(losses: l.pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V)
                let (sR, nR) = CrossEntropy.forwardReference(losses: lR.pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V)
                XCTAssertEqual(n, nR)
                assertClose(s, sR, rtol: kernelRtol, atol: kernelAtol, "CE loss sum \(rows)x\(V)")
                CrossEntropy.backward(dLogits: dz.pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V, scale: 0.7)
                CrossEntropy.backwardReference(dLogits: dzR.pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V, scale: 0.7)
            }
            assertClose(l, lR, rtol: kernelRtol, atol: kernelAtol, "CE losses \(rows)x\(V)")
            assertClose(dz, dzR, rtol: kernelRtol, atol: kernelAtol, "CE backward \(rows)x\(V)")
        }
    }

    /// The loss is -log_softmax(z)[t], checked against the log-softmax reference; ignored rows
    /// give loss 0 and leave their gradient rows untouched; the mean is over non-ignored rows.
    func testIgnoreMaskAndMeanOverKeptRows() throws {
        var rng = RandomGenerator(seed: 602)
        let (rows, V) = (9, 17)
        let z = rng.normalTensor([rows, V], std: 2)
        let t = targets(rows, V: V, ignoreEvery: 3, rng: &rng)  // rows 1, 4, 7 ignored
        let logp = Tensor(zeros: [rows, V])
        LogSoftmax.forwardReference(out: logp.pointer, input: z.pointer, rows: rows, n: V)
        let kept = (0..<rows).filter { t[$0] >= 0 }
        XCTAssertEqual(kept.count, 6)
        let expectedMean = kept.map { -Double(logp[$0, Int(t[$0])]) }.reduce(0, +) / Double(kept.count)
        assertClose(Double(try crossEntropy(logits: z, targets: t)), expectedMean, rtol: 1e-5, atol: 1e-6, "mean loss")

        let l = Tensor(shape: [rows], repeating: 42), dz = rng.normalTensor([rows, V]), before = dz.copy()
        t.withUnsafeBufferPointer { p in
            let (s, n) = CrossEntropy.forward(losses: l.pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V)
            XCTAssertEqual(n, 6)
            assertClose(s / Double(n), expectedMean, rtol: 1e-5, atol: 1e-6, "sum / count")
            CrossEntropy.backward(dLogits: dz.pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V, scale: 1)
        }
        for r in 0..<rows {
            if t[r] < 0 {
                XCTAssertEqual(l[r], 0, "ignored row \(r) loss")
                XCTAssertEqual(dz.row(r).array, before.row(r).array, "ignored row \(r) gradient untouched")
            } else {
                assertClose(Double(l[r]), -Double(logp[r, Int(t[r])]), rtol: 1e-5, atol: 1e-6, "row \(r) loss")
            }
        }
        XCTAssertEqual(try crossEntropy(logits: z, targets: [Int32](repeating: -1, count: rows)), 0, "all ignored")
    }

    /// Σ_v (softmax - onehot) = 0 per row, and the target entry is the only negative one.
    func testGradientRowsSumToZero() {
        var rng = RandomGenerator(seed: 603)
        let (rows, V) = (17, 65)
        let z = rng.normalTensor([rows, V], std: 3), dz = Tensor(zeros: [rows, V])
        let t = targets(rows, V: V, ignoreEvery: 0, rng: &rng)
        t.withUnsafeBufferPointer { p in
            CrossEntropy.backward(dLogits: dz.pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V, scale: 1)
        }
        for r in 0..<rows {
            let g = dz.row(r).array
            assertClose(g.reduce(0.0) { $0 + Double($1) }, 0, rtol: 0, atol: 1e-6, "row \(r) gradient sum")
            XCTAssertEqual(g.indices.filter { g[$0] < 0 }, [Int(t[r])], "row \(r): only the target is pushed up")
        }
    }

    func testLargeLogitsStayFinite() {
        // Logits 1e4 + [0, 1, 2]: loss for target 2 is log(1 + e^-1 + e^-2) = 0.40760596444.
        let z = try! Tensor(shape: [1, 3], values: [10_000, 10_001, 10_002])
        XCTAssertEqual(Double(try crossEntropy(logits: z, targets: [2])), 0.40760596444437967, accuracy: 1e-5)
        let dz = Tensor(zeros: [1, 3])
        [Int32(2)].withUnsafeBufferPointer { p in
            CrossEntropy.backward(dLogits: dz.pointer, logits: z.pointer, targets: p.baseAddress!, rows: 1, V: 3, scale: 1)
        }
        assertClose(dz.array, [0.09003057317038046, 0.24472847105479764, 0.6652409557748219 - 1], rtol: 1e-5, atol: 1e-7)
    }

    func testGradientByFiniteDifferencesAndAccumulation() {
        var rng = RandomGenerator(seed: 604)
        for (rows, V) in gradientShapes + [(4, 5)] {
            let z = rng.normalTensor([rows, V], std: 2), l = Tensor(zeros: [rows]), dz = Tensor(zeros: [rows, V])
            let t = targets(rows, V: V, ignoreEvery: 3, rng: &rng)
            t.withUnsafeBufferPointer { p in
                let tp = p.baseAddress!
                // L = 0.5 · Σ_r loss_r, so dL/dz = backward with scale 0.5.
                CrossEntropy.backward(dLogits: dz.pointer, logits: z.pointer, targets: tp, rows: rows, V: V, scale: 0.5)
                assertGradients(wrt: [z], analytic: [dz], names: ["logits"]) {
                    0.5 * CrossEntropy.forward(losses: l.pointer, logits: z.pointer, targets: tp, rows: rows, V: V).sum
                }
            }
        }
        let z = rng.normalTensor([4, 9]), t: [Int32] = [3, -1, 0, 8]
        t.withUnsafeBufferPointer { p in
            assertAccumulates([[4, 9]], rng: &rng, "cross-entropy") { g in
                CrossEntropy.backward(dLogits: g[0].pointer, logits: z.pointer, targets: p.baseAddress!, rows: 4, V: 9, scale: 0.25)
            }
        }
    }

    func testThreadCountDoesNotChangeBits() {
        var rng = RandomGenerator(seed: 605)
        let (rows, V) = (130, 257)
        let z = rng.normalTensor([rows, V], std: 3)
        let t = targets(rows, V: V, ignoreEvery: 5, rng: &rng)
        t.withUnsafeBufferPointer { p in
            assertThreadIndependent([Tensor(zeros: [rows])], "CE forward") {
                _ = CrossEntropy.forward(losses: $0[0].pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V)
            }
            assertThreadIndependent([rng.normalTensor([rows, V])], "CE backward") {
                CrossEntropy.backward(dLogits: $0[0].pointer, logits: z.pointer, targets: p.baseAddress!, rows: rows, V: V, scale: 0.01)
            }
        }
    }

    func testShapeErrors() {
        let z = Tensor(zeros: [2, 3, 5])
        assertShapeError(["[2, 3, 5]", "6 rows", "[4]"]) { try crossEntropy(logits: z, targets: [0, 1, 2, 3]) }
        assertShapeError(["target 5", "[2, 3, 5]", "0..<5"]) { try crossEntropy(logits: z, targets: [0, 1, 2, 3, 4, 5]) }
    }
}
