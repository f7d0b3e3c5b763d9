import Tensor
import TestSupport
import XCTest

final class ElementwiseTests: XCTestCase {
    func testElementwiseMatchReferencesIncludingAliasing() {
        var rng = RandomGenerator(seed: 401)
        for count in awkwardSizes + [70_001] {
            let a = rng.normalTensor([count]), b = rng.normalTensor([count])
            for (name, fast, ref) in [("add", Elementwise.add, Elementwise.addReference), ("mul", Elementwise.mul, Elementwise.mulReference)] {
                let out = Tensor(zeros: [count]), outR = Tensor(zeros: [count])
                fast(out.pointer, a.pointer, b.pointer, count)
                ref(outR.pointer, a.pointer, b.pointer, count)
                assertClose(out, outR, rtol: 1e-6, atol: 0, "\(name) \(count)")
                // In place: out aliases a.
                let inPlace = a.copy()
                fast(inPlace.pointer, inPlace.pointer, b.pointer, count)
                assertClose(inPlace, outR, rtol: 1e-6, atol: 0, "\(name) in place \(count)")
            }
            let y = rng.normalTensor([count]), yR = y.copy()
            Elementwise.axpy(y: y.pointer, alpha: -0.75, x: a.pointer, count: count)
            Elementwise.axpyReference(y: yR.pointer, alpha: -0.75, x: a.pointer, count: count)
            assertClose(y, yR, rtol: 1e-6, atol: 1e-7, "axpy \(count)")
            let s = a.copy(), sR = a.copy()
            Elementwise.scale(s.pointer, by: 1.5, count: count)
            Elementwise.scaleReference(sR.pointer, by: 1.5, count: count)
            assertClose(s, sR, rtol: 1e-6, atol: 0, "scale \(count)")
        }
        // An independent spot check of the arithmetic.
        let a = try! Tensor(shape: [3], values: [1, 2, 3]), b = try! Tensor(shape: [3], values: [4, -5, 0.5])
        XCTAssertEqual(try add(a, b).array, [5, -3, 3.5])
        XCTAssertEqual(try mul(a, b).array, [4, -10, 1.5])
    }

    func testBiasAddAndItsBackward() {
        var rng = RandomGenerator(seed: 402)
        for (rows, cols) in kernelShapes {
            let x = rng.normalTensor([rows, cols]), v = rng.normalTensor([cols]), xR = x.copy()
            Elementwise.addRowVector(x.pointer, vector: v.pointer, rows: rows, cols: cols)
            Elementwise.addRowVectorReference(xR.pointer, vector: v.pointer, rows: rows, cols: cols)
            assertClose(x, xR, rtol: 1e-6, atol: 0, "addRowVector \(rows)x\(cols)")
            let into = rng.normalTensor([cols]), intoR = into.copy()
            Elementwise.sumRows(into: into.pointer, input: x.pointer, rows: rows, cols: cols)
            Elementwise.sumRowsReference(into: intoR.pointer, input: x.pointer, rows: rows, cols: cols)
            assertClose(into, intoR, rtol: kernelRtol, atol: kernelAtol, "sumRows \(rows)x\(cols)")
        }
        // sumRows is the gradient of the bias add: L = Σ g ⊙ (x + 1 vᵀ) gives dL/dv = Σ_r g[r, :].
        var rng2 = RandomGenerator(seed: 403)
        let x = rng2.normalTensor([5, 7]), v = rng2.normalTensor([7]), y = Tensor(zeros: [5, 7]), dv = Tensor(zeros: [7])
        let project = Projection(shape: [5, 7], rng: &rng2)
        Elementwise.sumRows(into: dv.pointer, input: project.weights.pointer, rows: 5, cols: 7)
        assertGradients(wrt: [v], analytic: [dv]) {
            y.pointer.update(from: x.pointer, count: 35)
            Elementwise.addRowVector(y.pointer, vector: v.pointer, rows: 5, cols: 7)
            return project(y)
        }
        assertAccumulates([[7]], rng: &rng2, "sumRows") { g in Elementwise.sumRows(into: g[0].pointer, input: x.pointer, rows: 5, cols: 7) }
    }

    func testReduceMatchesReferenceOnBothAxes() {
        var rng = RandomGenerator(seed: 404)
        for (rows, cols) in kernelShapes {
            let x = rng.normalTensor([rows, cols])
            for axis in [0, 1] {
                let n = axis == 0 ? cols : rows
                let s = Tensor(zeros: [n]), sR = Tensor(zeros: [n]), m = Tensor(zeros: [n]), mR = Tensor(zeros: [n])
                s.fill(99)  // outputs are overwritten, not accumulated
                Reduce.sum(out: s.pointer, input: x.pointer, rows: rows, cols: cols, axis: axis)
                Reduce.sumReference(out: sR.pointer, input: x.pointer, rows: rows, cols: cols, axis: axis)
                Reduce.mean(out: m.pointer, input: x.pointer, rows: rows, cols: cols, axis: axis)
                Reduce.meanReference(out: mR.pointer, input: x.pointer, rows: rows, cols: cols, axis: axis)
                assertClose(s, sR, rtol: kernelRtol, atol: kernelAtol, "sum axis \(axis) \(rows)x\(cols)")
                assertClose(m, mR, rtol: kernelRtol, atol: kernelAtol, "mean axis \(axis) \(rows)x\(cols)")
            }
        }
    }

    func testTensorReductionsOverAnyAxis() throws {
        // x[i, j, k] = 100 i + 10 j + k: sums over each axis have closed forms.
        let x = Tensor(zeros: [2, 3, 4])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { x[i, j, k] = Float(100 * i + 10 * j + k) } } }
        let s0 = try sum(x, axis: 0), s1 = try sum(x, axis: 1), s2 = try sum(x, axis: 2)
        XCTAssertEqual(s0.shape, [3, 4])
        XCTAssertEqual(s1.shape, [2, 4])
        XCTAssertEqual(s2.shape, [2, 3])
        XCTAssertEqual(s0[2, 3], Float(100 + 2 * 20 + 2 * 3))
        XCTAssertEqual(s1[1, 2], Float(3 * 100 + 30 + 3 * 2))
        XCTAssertEqual(s2[1, 1], Float(4 * 110 + 6))
        XCTAssertEqual(try mean(x, axis: 1)[1, 2], Float(100 + 10 + 2))
        XCTAssertEqual(try mean(x, axis: 2)[0, 2], 21.5)
    }

    func testThreadCountDoesNotChangeBits() {
        var rng = RandomGenerator(seed: 405)
        let (rows, cols) = (130, 257)
        let x = rng.normalTensor([rows, cols]), v = rng.normalTensor([cols])
        let a = rng.normalTensor([70_001]), b = rng.normalTensor([70_001])
        assertThreadIndependent([Tensor(zeros: [70_001])], "add") { Elementwise.add(out: $0[0].pointer, a: a.pointer, b: b.pointer, count: 70_001) }
        assertThreadIndependent([a], "axpy") { Elementwise.axpy(y: $0[0].pointer, alpha: 0.3, x: b.pointer, count: 70_001) }
        assertThreadIndependent([x], "addRowVector") { Elementwise.addRowVector($0[0].pointer, vector: v.pointer, rows: rows, cols: cols) }
        assertThreadIndependent([v], "sumRows") { Elementwise.sumRows(into: $0[0].pointer, input: x.pointer, rows: rows, cols: cols) }
        for axis in [0, 1] {
            assertThreadIndependent([Tensor(zeros: [axis == 0 ? cols : rows])], "sum axis \(axis)") {
                Reduce.sum(out: $0[0].pointer, input: x.pointer, rows: rows, cols: cols, axis: axis)
            }
        }
    }

    func testShapeErrorsNameBothShapes() {
        assertShapeError(["[2, 3]", "[3, 2]"]) { try add(Tensor(zeros: [2, 3]), Tensor(zeros: [3, 2])) }
        assertShapeError(["[4]", "[5]"]) { try mul(Tensor(zeros: [4]), Tensor(zeros: [5])) }
        assertShapeError(["[2, 6]", "[5]"]) { try addBias(Tensor(zeros: [2, 6]), Tensor(zeros: [5])) }
        assertShapeError(["axis 3", "[2, 3]"]) { try sum(Tensor(zeros: [2, 3]), axis: 3) }
        assertShapeError(["axis -1", "[2, 3]"]) { try mean(Tensor(zeros: [2, 3]), axis: -1) }
    }
}
