import Tensor
import TestSupport
import XCTest

private let eps: Float = 1e-5

final class NormTests: XCTestCase {
    func testLayerNormMatchesReference() {
        var rng = RandomGenerator(seed: 201)
        for (rows, C) in kernelShapes {
            // An offset mean and a non-unit scale, as in real residual streams.
            let x = rng.normalTensor([rows, C], std: 2), w = rng.normalTensor([C]), b = rng.normalTensor([C])
            for i in 0..<x.count { x.pointer[i] += 3 }
            for useBias in [true, false] {
                let y = Tensor(zeros: [rows, C]), m = Tensor(zeros: [rows]), s = Tensor(zeros: [rows])
                let yR = Tensor(zeros: [rows, C]), mR = Tensor(zeros: [rows]), sR = Tensor(zeros: [rows])
                let bias: UnsafePointer<Float>? = useBias ? UnsafePointer(b.pointer) : nil
                LayerNorm.forward(out: y.pointer, mean: m.pointer, rstd: s.pointer, input: x.pointer, weight: w.pointer, bias: bias, rows: rows, C: C, eps: eps)
                LayerNorm.forwardReference(out: yR.pointer, mean: mR.pointer, rstd: sR.pointer, input: x.pointer, weight: w.pointer, bias: bias, rows: rows, C: C, eps: eps)
                let tag = "layerNorm \(rows)x\(C) bias \(useBias)"
                assertClose(y, yR, rtol: kernelRtol, atol: kernelAtol, "\(tag) out")
                assertClose(m, mR, rtol: kernelRtol, atol: kernelAtol, "\(tag) mean")
                assertClose(s, sR, rtol: kernelRtol, atol: kernelAtol, "\(tag) rstd")

                let dy = rng.normalTensor([rows, C])
                let dx = rng.normalTensor([rows, C]), dw = rng.normalTensor([C]), db = rng.normalTensor([C])
                let dxR = dx.copy(), dwR = dw.copy(), dbR = db.copy()
                LayerNorm.backward(dInput: dx.pointer, dWeight: dw.pointer, dBias: useBias ? db.pointer : nil, dOut: dy.pointer,
                                   input: x.pointer, weight: w.pointer, mean: mR.pointer, rstd: sR.pointer, rows: rows, C: C)
                LayerNorm.backwardReference(dInput: dxR.pointer, dWeight: dwR.pointer, dBias: useBias ? dbR.pointer : nil, dOut: dy.pointer,
                                            input: x.pointer, weight: w.pointer, mean: mR.pointer, rstd: sR.pointer, rows: rows, C: C)
                assertClose(dx, dxR, rtol: kernelRtol, atol: kernelAtol, "\(tag) dInput")
                assertClose(dw, dwR, rtol: kernelRtol, atol: kernelAtol, "\(tag) dWeight")
                assertClose(db, dbR, rtol: kernelRtol, atol: kernelAtol, "\(tag) dBias")
            }
        }
    }

    func testRMSNormMatchesReference() {
        var rng = RandomGenerator(seed: 202)
        for (rows, C) in kernelShapes {
            let x = rng.normalTensor([rows, C], std: 2), w = rng.normalTensor([C]), dy = rng.normalTensor([rows, C])
            let y = Tensor(zeros: [rows, C]), s = Tensor(zeros: [rows]), yR = Tensor(zeros: [rows, C]), sR = Tensor(zeros: [rows])
            RMSNorm.forward(out: y.pointer, rstd: s.pointer, input: x.pointer, weight: w.pointer, rows: rows, C: C, eps: eps)
            RMSNorm.forwardReference(out: yR.pointer, rstd: sR.pointer, input: x.pointer, weight: w.pointer, rows: rows, C: C, eps: eps)
            assertClose(y, yR, rtol: kernelRtol, atol: kernelAtol, "rmsNorm \(rows)x\(C) out")
            assertClose(s, sR, rtol: kernelRtol, atol: kernelAtol, "rmsNorm \(rows)x\(C) rstd")
            let dx = rng.normalTensor([rows, C]), dw = rng.normalTensor([C]), dxR = dx.copy(), dwR = dw.copy()
            RMSNorm.backward(dInput: dx.pointer, dWeight: dw.pointer, dOut: dy.pointer, input: x.pointer, weight: w.pointer, rstd: sR.pointer, rows: rows, C: C)
            RMSNorm.backwardReference(dInput: dxR.pointer, dWeight: dwR.pointer, dOut: dy.pointer, input: x.pointer, weight: w.pointer, rstd: sR.pointer, rows: rows, C: C)
            assertClose(dx, dxR, rtol: kernelRtol, atol: kernelAtol, "rmsNorm \(rows)x\(C) dInput")
            assertClose(dw, dwR, rtol: kernelRtol, atol: kernelAtol, "rmsNorm \(rows)x\(C) dWeight")
        }
    }

    /// With unit weight and zero bias every layer-normed row has mean 0 and (biased) variance
    /// 1/(1 + eps/σ²); every RMS-normed row has mean square 1/(1 + eps/ms).
    func testNormalisedRowsHaveUnitStatistics() throws {
        var rng = RandomGenerator(seed: 203)
        let x = rng.normalTensor([9, 65], std: 3), ones = Tensor(shape: [65], repeating: 1)
        let y = try layerNorm(x, weight: ones, bias: Tensor(zeros: [65]), eps: eps)
        let z = try rmsNorm(x, weight: ones, eps: eps)
        for r in 0..<9 {
            let row = y.row(r).array.map(Double.init), zr = z.row(r).array.map(Double.init)
            let m = row.reduce(0, +) / 65
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 65
            assertClose(m, 0, rtol: 0, atol: 1e-5, "row \(r) mean")
            assertClose(v, 1, rtol: 0, atol: 1e-4, "row \(r) variance")
            assertClose(zr.map { $0 * $0 }.reduce(0, +) / 65, 1, rtol: 0, atol: 1e-4, "row \(r) mean square")
        }
    }

    func testGradientsByFiniteDifferences() {
        var rng = RandomGenerator(seed: 204)
        for (rows, C) in gradientShapes where C > 1 {
            let x = rng.normalTensor([rows, C]), w = rng.normalTensor([C]), b = rng.normalTensor([C])
            let y = Tensor(zeros: [rows, C]), m = Tensor(zeros: [rows]), s = Tensor(zeros: [rows])
            let project = Projection(shape: [rows, C], rng: &rng)
            let dx = Tensor(zeros: [rows, C]), dw = Tensor(zeros: [C]), db = Tensor(zeros: [C])
            let ln = { LayerNorm.forward(out: y.pointer, mean: m.pointer, rstd: s.pointer, input: x.pointer, weight: w.pointer, bias: b.pointer, rows: rows, C: C, eps: eps) }
            ln()
            LayerNorm.backward(dInput: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dOut: project.weights.pointer, input: x.pointer,
                               weight: w.pointer, mean: m.pointer, rstd: s.pointer, rows: rows, C: C)
            assertGradients(wrt: [x, w, b], analytic: [dx, dw, db], names: ["x", "w", "b"]) { ln(); return project(y) }

            let dx2 = Tensor(zeros: [rows, C]), dw2 = Tensor(zeros: [C])
            let rms = { RMSNorm.forward(out: y.pointer, rstd: s.pointer, input: x.pointer, weight: w.pointer, rows: rows, C: C, eps: eps) }
            rms()
            RMSNorm.backward(dInput: dx2.pointer, dWeight: dw2.pointer, dOut: project.weights.pointer, input: x.pointer, weight: w.pointer,
                             rstd: s.pointer, rows: rows, C: C)
            assertGradients(wrt: [x, w], analytic: [dx2, dw2], names: ["x", "w"]) { rms(); return project(y) }
        }
    }

    func testBackwardAccumulates() {
        var rng = RandomGenerator(seed: 205)
        let (rows, C) = (6, 17)
        let x = rng.normalTensor([rows, C]), w = rng.normalTensor([C]), b = rng.normalTensor([C]), dy = rng.normalTensor([rows, C])
        let y = Tensor(zeros: [rows, C]), m = Tensor(zeros: [rows]), s = Tensor(zeros: [rows]), s2 = Tensor(zeros: [rows])
        LayerNorm.forward(out: y.pointer, mean: m.pointer, rstd: s.pointer, input: x.pointer, weight: w.pointer, bias: b.pointer, rows: rows, C: C, eps: eps)
        RMSNorm.forward(out: y.pointer, rstd: s2.pointer, input: x.pointer, weight: w.pointer, rows: rows, C: C, eps: eps)
        assertAccumulates([[rows, C], [C], [C]], rng: &rng, "layerNorm") { g in
            LayerNorm.backward(dInput: g[0].pointer, dWeight: g[1].pointer, dBias: g[2].pointer, dOut: dy.pointer, input: x.pointer,
                               weight: w.pointer, mean: m.pointer, rstd: s.pointer, rows: rows, C: C)
        }
        assertAccumulates([[rows, C], [C]], rng: &rng, "rmsNorm") { g in
            RMSNorm.backward(dInput: g[0].pointer, dWeight: g[1].pointer, dOut: dy.pointer, input: x.pointer, weight: w.pointer,
                             rstd: s2.pointer, rows: rows, C: C)
        }
    }

    func testThreadCountDoesNotChangeBits() {
        var rng = RandomGenerator(seed: 206)
        let (rows, C) = (130, 257)
        let x = rng.normalTensor([rows, C]), w = rng.normalTensor([C]), b = rng.normalTensor([C]), dy = rng.normalTensor([rows, C])
        let m = Tensor(zeros: [rows]), s = Tensor(zeros: [rows]), s2 = Tensor(zeros: [rows]), y = Tensor(zeros: [rows, C])
        LayerNorm.forward(out: y.pointer, mean: m.pointer, rstd: s.pointer, input: x.pointer, weight: w.pointer, bias: b.pointer, rows: rows, C: C, eps: eps)
        RMSNorm.forward(out: y.pointer, rstd: s2.pointer, input: x.pointer, weight: w.pointer, rows: rows, C: C, eps: eps)
        assertThreadIndependent([Tensor(zeros: [rows, C]), Tensor(zeros: [rows]), Tensor(zeros: [rows])], "layerNorm forward") { o in
            LayerNorm.forward(out: o[0].pointer, mean: o[1].pointer, rstd: o[2].pointer, input: x.pointer, weight: w.pointer, bias: b.pointer, rows: rows, C: C, eps: eps)
        }
        assertThreadIndependent([rng.normalTensor([rows, C]), rng.normalTensor([C]), rng.normalTensor([C])], "layerNorm backward") { g in
            LayerNorm.backward(dInput: g[0].pointer, dWeight: g[1].pointer, dBias: g[2].pointer, dOut: dy.pointer, input: x.pointer,
                               weight: w.pointer, mean: m.pointer, rstd: s.pointer, rows: rows, C: C)
        }
        assertThreadIndependent([Tensor(zeros: [rows, C]), Tensor(zeros: [rows])], "rmsNorm forward") { o in
            RMSNorm.forward(out: o[0].pointer, rstd: o[1].pointer, input: x.pointer, weight: w.pointer, rows: rows, C: C, eps: eps)
        }
        assertThreadIndependent([rng.normalTensor([rows, C]), rng.normalTensor([C])], "rmsNorm backward") { g in
            RMSNorm.backward(dInput: g[0].pointer, dWeight: g[1].pointer, dOut: dy.pointer, input: x.pointer, weight: w.pointer,
                             rstd: s2.pointer, rows: rows, C: C)
        }
    }

    func testWrappersNameBothShapes() {
        let x = Tensor(zeros: [2, 8])
        assertShapeError(["[5]", "[8]"]) { try layerNorm(x, weight: Tensor(zeros: [5]), bias: nil) }
        assertShapeError(["[7]", "[8]"]) { try layerNorm(x, weight: Tensor(zeros: [8]), bias: Tensor(zeros: [7])) }
        assertShapeError(["[4, 2]", "[8]"]) { try rmsNorm(x, weight: Tensor(zeros: [4, 2])) }
    }
}
