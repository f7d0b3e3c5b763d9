import Tensor
import TestSupport
import XCTest

/// One element-wise activation: fast and reference forward/backward.
private struct Kind: Sendable {
    typealias Forward = @Sendable (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void
    typealias Backward = @Sendable (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Void
    let name: String
    let forward: Forward, forwardReference: Forward
    let backward: Backward, backwardReference: Backward
}

private let kinds = [
    Kind(name: "geluTanh", forward: Activation.geluTanhForward, forwardReference: Activation.geluTanhForwardReference,
         backward: Activation.geluTanhBackward, backwardReference: Activation.geluTanhBackwardReference),
    Kind(name: "geluErf", forward: Activation.geluErfForward, forwardReference: Activation.geluErfForwardReference,
         backward: Activation.geluErfBackward, backwardReference: Activation.geluErfBackwardReference),
    Kind(name: "silu", forward: Activation.siluForward, forwardReference: Activation.siluForwardReference,
         backward: Activation.siluBackward, backwardReference: Activation.siluBackwardReference),
]

final class ActivationTests: XCTestCase {
    func testElementwiseMatchReferences() {
        var rng = RandomGenerator(seed: 301)
        for k in kinds {
            for count in awkwardSizes + [130 * 257] {
                // std 4 reaches the saturated tails (|x| > 10) as well as the curved middle.
                let x = rng.normalTensor([count], std: 4), dy = rng.normalTensor([count])
                let y = Tensor(zeros: [count]), yR = Tensor(zeros: [count])
                k.forward(y.pointer, x.pointer, count)
                k.forwardReference(yR.pointer, x.pointer, count)
                assertClose(y, yR, rtol: kernelRtol, atol: kernelAtol, "\(k.name) forward \(count)")
                let dx = rng.normalTensor([count]), dxR = dx.copy()
                k.backward(dx.pointer, dy.pointer, x.pointer, count)
                k.backwardReference(dxR.pointer, dy.pointer, x.pointer, count)
                assertClose(dx, dxR, rtol: kernelRtol, atol: kernelAtol, "\(k.name) backward \(count)")
            }
        }
    }

    /// Values from PyTorch 2.15 (`F.gelu(x, approximate="tanh")`, `F.gelu(x)`, `F.silu(x)` in float64).
    func testKnownValuesFromPyTorch() {
        let x = try! Tensor(shape: [7], values: [-3, -1, -0.5, 0, 0.5, 1, 3])
        assertClose(gelu(x).array, [-0.0036373920817729943, -0.15880800939172324, -0.15428599017485606, 0.0,
                                    0.34571400982514394, 0.8411919906082768, 2.996362607918227], rtol: 1e-5, atol: 1e-7, "gelu tanh")
        assertClose(gelu(x, exact: true).array, [-0.00404969409489031, -0.15865525393145702, -0.15426876936299344, 0.0,
                                                 0.34573123063700656, 0.841344746068543, 2.99595030590511], rtol: 1e-5, atol: 1e-7, "gelu erf")
        assertClose(silu(x).array, [-0.14227761953270035, -0.2689414213699951, -0.1887703343990727, 0.0,
                                    0.3112296656009273, 0.7310585786300049, 2.8577223804672998], rtol: 1e-5, atol: 1e-7, "silu")
    }

    func testSwiGLUMatchesReferenceAndSiluTimesUp() {
        var rng = RandomGenerator(seed: 302)
        for (rows, F) in kernelShapes {
            let gu = rng.normalTensor([rows, 2 * F], std: 3), dy = rng.normalTensor([rows, F])
            let y = Tensor(zeros: [rows, F]), yR = Tensor(zeros: [rows, F])
            Activation.swigluForward(out: y.pointer, gateUp: gu.pointer, rows: rows, F: F)
            Activation.swigluForwardReference(out: yR.pointer, gateUp: gu.pointer, rows: rows, F: F)
            assertClose(y, yR, rtol: kernelRtol, atol: kernelAtol, "swiglu forward \(rows)x\(F)")
            let dg = rng.normalTensor([rows, 2 * F]), dgR = dg.copy()
            Activation.swigluBackward(dGateUp: dg.pointer, dOut: dy.pointer, gateUp: gu.pointer, rows: rows, F: F)
            Activation.swigluBackwardReference(dGateUp: dgR.pointer, dOut: dy.pointer, gateUp: gu.pointer, rows: rows, F: F)
            assertClose(dg, dgR, rtol: kernelRtol, atol: kernelAtol, "swiglu backward \(rows)x\(F)")
        }
        // Layout: the first F columns gate, the last F are multiplied (silu(g) · u from the parts).
        let gu = try! Tensor(shape: [1, 4], values: [1, -0.5, 2, 3])
        let y = Tensor(zeros: [1, 2])
        Activation.swigluForward(out: y.pointer, gateUp: gu.pointer, rows: 1, F: 2)
        assertClose(y.array, [0.7310585786300049 * 2, -0.1887703343990727 * 3], rtol: 1e-5, atol: 1e-7)
    }

    func testGradientsByFiniteDifferences() {
        var rng = RandomGenerator(seed: 303)
        for k in kinds {
            let x = rng.normalTensor([40], std: 2), y = Tensor(zeros: [40]), dx = Tensor(zeros: [40])
            let project = Projection(shape: [40], rng: &rng)
            k.forward(y.pointer, x.pointer, 40)
            k.backward(dx.pointer, project.weights.pointer, x.pointer, 40)
            assertGradients(wrt: [x], analytic: [dx], names: [k.name]) { k.forward(y.pointer, x.pointer, 40); return project(y) }
        }
        for (rows, F) in gradientShapes {
            let gu = rng.normalTensor([rows, 2 * F], std: 2), y = Tensor(zeros: [rows, F]), dg = Tensor(zeros: [rows, 2 * F])
            let project = Projection(shape: [rows, F], rng: &rng)
            Activation.swigluBackward(dGateUp: dg.pointer, dOut: project.weights.pointer, gateUp: gu.pointer, rows: rows, F: F)
            assertGradients(wrt: [gu], analytic: [dg], names: ["gateUp"]) {
                Activation.swigluForward(out: y.pointer, gateUp: gu.pointer, rows: rows, F: F)
                return project(y)
            }
        }
    }

    func testBackwardAccumulates() {
        var rng = RandomGenerator(seed: 304)
        let x = rng.normalTensor([37]), dy = rng.normalTensor([37])
        for k in kinds {
            assertAccumulates([[37]], rng: &rng, k.name) { g in k.backward(g[0].pointer, dy.pointer, x.pointer, 37) }
        }
        let gu = rng.normalTensor([3, 34]), dyF = rng.normalTensor([3, 17])
        assertAccumulates([[3, 34]], rng: &rng, "swiglu") { g in
            Activation.swigluBackward(dGateUp: g[0].pointer, dOut: dyF.pointer, gateUp: gu.pointer, rows: 3, F: 17)
        }
    }

    /// 33 410 elements split over two threads at a boundary that is not a multiple of the vector
    /// width, so this also checks that a chunk's tail goes through the same formula as its body.
    func testThreadCountDoesNotChangeBits() {
        var rng = RandomGenerator(seed: 305)
        let n = 130 * 257
        let x = rng.normalTensor([n], std: 3), dy = rng.normalTensor([n])
        for k in kinds {
            assertThreadIndependent([Tensor(zeros: [n])], "\(k.name) forward") { k.forward($0[0].pointer, x.pointer, n) }
            assertThreadIndependent([rng.normalTensor([n])], "\(k.name) backward") { k.backward($0[0].pointer, dy.pointer, x.pointer, n) }
        }
        let gu = rng.normalTensor([130, 514]), dyF = rng.normalTensor([130, 257])
        assertThreadIndependent([Tensor(zeros: [130, 257])], "swiglu forward") {
            Activation.swigluForward(out: $0[0].pointer, gateUp: gu.pointer, rows: 130, F: 257)
        }
        assertThreadIndependent([rng.normalTensor([130, 514])], "swiglu backward") {
            Activation.swigluBackward(dGateUp: $0[0].pointer, dOut: dyF.pointer, gateUp: gu.pointer, rows: 130, F: 257)
        }
    }
}
