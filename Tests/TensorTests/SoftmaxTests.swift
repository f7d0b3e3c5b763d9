import Foundation
import Tensor
import TestSupport
import XCTest

final class SoftmaxTests: XCTestCase {
    /// `topProbability` against the Double `1 / Σ e^(x − max)`: every tail length 1…40, a 49,152-token
    /// row, logits a trimmed head excludes (−1e30), large logits and a row with one certain token.
    func testTopProbabilityMatchesTheDoubleReference() {
        var rng = RandomGenerator(seed: 7)
        for n in Array(1...40) + [49_152] {
            for kind in 0..<3 {
                var x = (0..<n).map { _ in rng.normal() * 3 }
                if kind == 1 { for i in stride(from: 0, to: n, by: 3) { x[i] = -1e30 } ; x[n - 1] = 2 }
                if kind == 2 { x = x.map { $0 + 5000 } }
                let m = Double(x.max()!)
                let want = 1 / x.reduce(0.0) { $0 + exp(Double($1) - m) }
                let got = Double(x.withUnsafeBufferPointer { Softmax.topProbability($0.baseAddress!, n: n) })
                XCTAssertEqual(got, want, accuracy: 1e-5 * want, "n \(n), kind \(kind)")
                let known = Double(x.withUnsafeBufferPointer { Softmax.topProbability($0.baseAddress!, n: n, maximum: Float(m)) })
                XCTAssertEqual(known, got, "with the maximum given: the same sum")
            }
        }
        let sure: [Float] = [0, 100, -1e30, 3]
        XCTAssertEqual(Softmax.topProbability(sure, n: 4), 1, accuracy: 1e-6)
    }

    /// `maximum` against the scalar loop: every tail length 1…40 and a 49,152-entry row, with the
    /// largest entry anywhere (first, last, inside a chunk) and −inf entries.
    func testMaximumMatchesTheLoop() {
        var rng = RandomGenerator(seed: 8)
        for n in Array(1...40) + [49_152] {
            for at in Set([0, n / 2, n - 1]) {
                var x = (0..<n).map { _ in rng.normal() }
                if n > 2 { x[1] = -.infinity }
                x[at] = 9
                let want = x.reduce(-Float.infinity) { Swift.max($0, $1) }
                XCTAssertEqual(x.withUnsafeBufferPointer { Softmax.maximum($0.baseAddress!, n: n) }, want, "n \(n), max at \(at)")
            }
        }
    }

    /// `temperedRowSubset` gives bit for bit `temperedRow` of the full row whose logits outside the
    /// ids are −10³⁰ (a trimmed draft head's row), and its largest probability: rows whose length
    /// is not a multiple of 4 or 8 (ids in the tail), subsets of 1, 7, 8, 9 and a quarter of the
    /// row, ids at the start and the end, temperatures 0.7, 1 and 1.6, and a 49,152-token row; and
    /// `RandomGenerator.checkedCategorical(_:ids:lanes:count:)` on the K probabilities it leaves in
    /// scratch draws the full row's tokens (40 draws each, one stream state after them); and the
    /// top probability from the K logits (`Softmax.topProbability(_:lanes:count:maximum:scratch:)`)
    /// is the full row's, bit for bit.
    func testSubsetRowEqualsTheFullRowBitwise() throws {
        var rng = RandomGenerator(seed: 12)
        for n in [1, 5, 13, 37, 64, 203, 49_152] {
            var subsets: [[Int]] = [[0], [n - 1], Array(Set((0..<min(n, 7)).map { _ in Int(rng.next() % UInt64(n)) }))]
            if n >= 9 { subsets += [Array(0..<8), Array((n - 9)..<n), Array(stride(from: 0, to: n, by: 4)) + [n - 1]] }
            for raw in subsets {
                let ids = Array(Set(raw)).sorted().map(Int32.init)
                var x = [Float](repeating: -1e30, count: n)
                for id in ids { x[Int(id)] = 3 * rng.normal() }
                for T: Float in [0.7, 1, 1.6] {
                    var full = [Float](repeating: .nan, count: n), sub = [Float](repeating: .nan, count: n)
                    var scratch = [Float](repeating: .nan, count: ids.count)
                    Softmax.temperedRow(out: &full, input: x, n: n, temperature: T)
                    let lanes4 = SubsetLanes(ids: ids, n: n, width: 4), lanes8 = SubsetLanes(ids: ids, n: n, width: 8)
                    let top = ids.withUnsafeBufferPointer { idb in
                        Softmax.temperedRowSubset(out: &sub, input: x, n: n, ids: idb, lanes: lanes4, temperature: T, scratch: &scratch)
                    }
                    // The confidence of a greedy draft: the top probability from the K logits alone.
                    var compact = ids.map { x[Int($0)] }
                    let m = compact.max()!
                    let p = compact.withUnsafeMutableBufferPointer {   // in place, as the decoder calls it
                        Softmax.topProbability($0.baseAddress!, lanes: lanes8, count: ids.count, maximum: m, scratch: $0.baseAddress!)
                    }
                    XCTAssertEqual(p.bitPattern, Softmax.topProbability(x, n: n, maximum: m).bitPattern, "n \(n), \(ids.count) ids")
                    XCTAssertEqual(sub.map(\.bitPattern), full.map(\.bitPattern), "n \(n), \(ids.count) ids, T \(T)")
                    XCTAssertEqual(top, full.max()!, "n \(n), \(ids.count) ids, T \(T)")
                    // The compact probabilities left in scratch draw the full row's tokens from the same stream.
                    XCTAssertEqual(scratch.map(\.bitPattern), ids.map { full[Int($0)].bitPattern })
                    var a = RandomGenerator(seed: UInt64(n) &* 31 &+ UInt64(ids.count)), b = a
                    for _ in 0..<40 {
                        let x = try! a.checkedCategorical(full, count: n)
                        let y = try! ids.withUnsafeBufferPointer { try b.checkedCategorical(scratch, ids: $0, lanes: lanes4, count: n) }
                        XCTAssertEqual(y, x, "n \(n), \(ids.count) ids, T \(T)")
                    }
                    XCTAssertEqual(a, b, "one uniform per draw, as the full-width draw")
                }
            }
        }
    }

    func testForwardAndBackwardMatchReferences() {
        var rng = RandomGenerator(seed: 101)
        for (rows, n) in kernelShapes {
            let x = rng.normalTensor([rows, n], std: 3), dy = rng.normalTensor([rows, n])
            for log in [false, true] {
                let fwd = log ? LogSoftmax.forward : Softmax.forward
                let fwdRef = log ? LogSoftmax.forwardReference : Softmax.forwardReference
                let bwd = log ? LogSoftmax.backward : Softmax.backward
                let bwdRef = log ? LogSoftmax.backwardReference : Softmax.backwardReference
                let y = Tensor(zeros: [rows, n]), yRef = Tensor(zeros: [rows, n])
                fwd(y.pointer, x.pointer, rows, n)
                fwdRef(yRef.pointer, x.pointer, rows, n)
                assertClose(y, yRef, rtol: kernelRtol, atol: kernelAtol, "\(log ? "log-" : "")softmax forward \(rows)x\(n)")
                let dx = rng.normalTensor([rows, n]), dxRef = dx.copy()
                bwd(dx.pointer, dy.pointer, yRef.pointer, rows, n)
                bwdRef(dxRef.pointer, dy.pointer, yRef.pointer, rows, n)
                assertClose(dx, dxRef, rtol: kernelRtol, atol: kernelAtol, "\(log ? "log-" : "")softmax backward \(rows)x\(n)")
            }
        }
    }

    func testRowsSumToOneAndLogSoftmaxIsLogOfSoftmax() {
        var rng = RandomGenerator(seed: 102)
        let x = rng.normalTensor([17, 65], std: 4)
        let p = softmax(x), z = logSoftmax(x)
        for r in 0..<17 {
            assertClose(p.row(r).array.reduce(0.0) { $0 + Double($1) }, 1, rtol: 0, atol: 1e-5, "row \(r) sum")
        }
        assertClose(z.array.map { Foundation.exp(Double($0)) }, p.array, rtol: 1e-4, atol: 1e-6, "exp(log softmax) = softmax")
    }

    func testLargeLogitsStayFiniteAndMasksGiveZero() {
        // Logits around 1e4 overflow exp unless the maximum is subtracted; offsets 0, 1, 2 give
        // the probabilities of softmax([0, 1, 2]) = [0.09003057, 0.24472847, 0.66524096].
        let x = try! Tensor(shape: [2, 3], values: [10_000, 10_001, 10_002, -10_000, -9_999, -9_998])
        let p = softmax(x)
        let expected = [0.09003057317038046, 0.24472847105479764, 0.6652409557748219]
        assertClose(p.array, expected + expected, rtol: 1e-5, atol: 1e-7)
        let z = logSoftmax(x)
        assertClose(z.array, (expected + expected).map { Foundation.log($0) }, rtol: 1e-5, atol: 1e-6)
        // -inf (a causal mask) gets probability exactly 0; the rest renormalise.
        let masked = try! Tensor(shape: [1, 4], values: [1, -.infinity, 2, -.infinity])
        let q = softmax(masked)
        XCTAssertEqual(q[0, 1], 0)
        XCTAssertEqual(q[0, 3], 0)
        assertClose([q[0, 0], q[0, 2]], [0.2689414213699951, 0.7310585786300049], rtol: 1e-5, atol: 1e-7)
    }

    func testGradientsByFiniteDifferences() {
        var rng = RandomGenerator(seed: 103)
        for (rows, n) in gradientShapes {
            for log in [false, true] {
                let fwd = log ? LogSoftmax.forward : Softmax.forward
                let bwd = log ? LogSoftmax.backward : Softmax.backward
                let x = rng.normalTensor([rows, n]), y = Tensor(zeros: [rows, n]), dx = Tensor(zeros: [rows, n])
                let project = Projection(shape: [rows, n], rng: &rng)
                fwd(y.pointer, x.pointer, rows, n)
                bwd(dx.pointer, project.weights.pointer, y.pointer, rows, n)
                assertGradients(wrt: [x], analytic: [dx]) { fwd(y.pointer, x.pointer, rows, n); return project(y) }
            }
        }
    }

    func testBackwardAccumulates() {
        var rng = RandomGenerator(seed: 104)
        let x = rng.normalTensor([5, 17]), dy = rng.normalTensor([5, 17])
        let y = softmax(x), z = logSoftmax(x)
        assertAccumulates([[5, 17]], rng: &rng, "softmax") { g in Softmax.backward(dInput: g[0].pointer, dOut: dy.pointer, out: y.pointer, rows: 5, n: 17) }
        assertAccumulates([[5, 17]], rng: &rng, "log-softmax") { g in LogSoftmax.backward(dInput: g[0].pointer, dOut: dy.pointer, out: z.pointer, rows: 5, n: 17) }
    }

    func testThreadCountDoesNotChangeBits() {
        var rng = RandomGenerator(seed: 105)
        let (rows, n) = (130, 257)
        let x = rng.normalTensor([rows, n], std: 3), dy = rng.normalTensor([rows, n])
        let y = softmax(x), z = logSoftmax(x)
        assertThreadIndependent([Tensor(zeros: [rows, n])], "softmax forward") { Softmax.forward(out: $0[0].pointer, input: x.pointer, rows: rows, n: n) }
        assertThreadIndependent([Tensor(zeros: [rows, n])], "log-softmax forward") { LogSoftmax.forward(out: $0[0].pointer, input: x.pointer, rows: rows, n: n) }
        assertThreadIndependent([Tensor(zeros: [rows, n])], "softmax backward") { Softmax.backward(dInput: $0[0].pointer, dOut: dy.pointer, out: y.pointer, rows: rows, n: n) }
        assertThreadIndependent([Tensor(zeros: [rows, n])], "log-softmax backward") { LogSoftmax.backward(dInput: $0[0].pointer, dOut: dy.pointer, out: z.pointer, rows: rows, n: n) }
    }
}
