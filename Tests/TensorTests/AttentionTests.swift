import Tensor
import TestSupport
import XCTest

/// Fast (float32, BLAS, blocked) against the Double reference: scores are float32 sums of HS
/// products of unit-scale numbers times 1/sqrt(HS), errors ~1e-6; probabilities and outputs
/// inherit them. 1e-4 relative + 1e-5 absolute passes rounding and fails any wrong head, mask
/// or index (which change values by O(0.1)).
private let attentionRtol = 1e-4, attentionAtol = 1e-5

/// One attention problem with q, k, v as views into a fused `(B·T, W)` buffer, W = (NH+2·NKV)·HS + pad.
struct AttentionCase {
    let B: Int, T: Int, NH: Int, NKV: Int, HS: Int, pad: Int
    var width: Int { (NH + 2 * NKV) * HS + pad }
    var scale: Float { HS == 0 ? 1 : 1 / Float(HS).squareRoot() }
    var qkvShape: [Int] { [B * T, width] }
    var outShape: [Int] { [B * T, NH * HS] }
    var probsShape: [Int] { [B, NH, T, T] }

    func forward(_ qkv: Tensor, out: Tensor, probs: Tensor, reference: Bool = false) {
        let p = UnsafePointer(qkv.pointer)
        let f = reference ? Attention.forwardReference : Attention.forward
        f(out.pointer, probs.pointer, p, p + NH * HS, p + (NH + NKV) * HS, width, B, T, NH, NKV, HS, scale)
    }

    func backward(_ dqkv: Tensor, dOut: Tensor, probs: Tensor, qkv: Tensor, reference: Bool = false) {
        let p = UnsafePointer(qkv.pointer), d = dqkv.pointer
        let f = reference ? Attention.backwardReference : Attention.backward
        f(d, d + NH * HS, d + (NH + NKV) * HS, dOut.pointer, probs.pointer, p, p + NH * HS, p + (NH + NKV) * HS,
          width, B, T, NH, NKV, HS, scale)
    }
}

final class AttentionTests: XCTestCase {
    let cases = [AttentionCase(B: 1, T: 1, NH: 1, NKV: 1, HS: 1, pad: 0),
                 AttentionCase(B: 2, T: 3, NH: 4, NKV: 2, HS: 5, pad: 1),
                 AttentionCase(B: 1, T: 17, NH: 6, NKV: 3, HS: 8, pad: 0),
                 AttentionCase(B: 2, T: 65, NH: 2, NKV: 1, HS: 3, pad: 2),
                 AttentionCase(B: 1, T: 130, NH: 3, NKV: 3, HS: 16, pad: 0)]  // three causal blocks

    func testForwardMatchesReference() {
        var rng = RandomGenerator(seed: 21)
        for c in cases {
            let qkv = rng.normalTensor(c.qkvShape)
            let out = rng.normalTensor(c.outShape), probs = rng.normalTensor(c.probsShape)  // garbage to overwrite
            let refOut = Tensor(zeros: c.outShape), refProbs = Tensor(zeros: c.probsShape)
            c.forward(qkv, out: out, probs: probs)
            c.forward(qkv, out: refOut, probs: refProbs, reference: true)
            assertClose(out, refOut, rtol: attentionRtol, atol: attentionAtol, "out \(c)")
            assertClose(probs, refProbs, rtol: attentionRtol, atol: attentionAtol, "probs \(c)")
        }
    }

    /// Scores of ±100s: without subtracting the row maximum exp would overflow to inf/NaN.
    func testForwardLargeScoresStayFinite() {
        var rng = RandomGenerator(seed: 22)
        let c = AttentionCase(B: 1, T: 17, NH: 2, NKV: 1, HS: 8, pad: 0)
        let qkv = rng.normalTensor(c.qkvShape, std: 12)
        let out = Tensor(zeros: c.outShape), probs = Tensor(zeros: c.probsShape)
        let refOut = Tensor(zeros: c.outShape), refProbs = Tensor(zeros: c.probsShape)
        c.forward(qkv, out: out, probs: probs)
        c.forward(qkv, out: refOut, probs: refProbs, reference: true)
        XCTAssertTrue(out.array.allSatisfy { $0.isFinite })
        assertClose(probs, refProbs, rtol: 1e-3, atol: 1e-4)
    }

    func testProbabilitiesAreCausalAndNormalised() {
        var rng = RandomGenerator(seed: 23)
        let c = AttentionCase(B: 2, T: 17, NH: 4, NKV: 2, HS: 5, pad: 1)
        let qkv = rng.normalTensor(c.qkvShape)
        let out = Tensor(zeros: c.outShape), probs = Tensor(zeros: c.probsShape)
        c.forward(qkv, out: out, probs: probs)
        let p = probs.pointer
        for row in 0..<(c.B * c.NH * c.T) {
            let t = row % c.T
            var sum = 0.0
            for j in 0..<c.T {
                if j > t { XCTAssertEqual(p[row * c.T + j], 0) } else { sum += Double(p[row * c.T + j]) }
            }
            XCTAssertEqual(sum, 1, accuracy: 1e-5)
        }
    }

    func testBackwardByFiniteDifferences() {
        var rng = RandomGenerator(seed: 24)
        for c in cases.prefix(3) + [AttentionCase(B: 1, T: 9, NH: 3, NKV: 1, HS: 4, pad: 1)] {
            let qkv = rng.normalTensor(c.qkvShape)
            let out = Tensor(zeros: c.outShape), probs = Tensor(zeros: c.probsShape)
            let project = Projection(shape: c.outShape, rng: &rng)
            c.forward(qkv, out: out, probs: probs)
            let dqkv = Tensor(zeros: c.qkvShape)
            c.backward(dqkv, dOut: project.weights, probs: probs, qkv: qkv)
            assertGradients(wrt: [qkv], analytic: [dqkv], names: ["fused qkv \(c)"]) {
                c.forward(qkv, out: out, probs: probs)
                return project(out)
            }
        }
    }

    /// Fast backward equals the reference and adds to what the gradients already hold.
    func testBackwardMatchesReferenceAndAccumulates() {
        var rng = RandomGenerator(seed: 25)
        for c in cases {
            let qkv = rng.normalTensor(c.qkvShape), dOut = rng.normalTensor(c.outShape)
            let out = Tensor(zeros: c.outShape), probs = Tensor(zeros: c.probsShape)
            c.forward(qkv, out: out, probs: probs, reference: true)
            let start = rng.normalTensor(c.qkvShape)
            let fast = start.copy(), ref = start.copy()
            c.backward(fast, dOut: dOut, probs: probs, qkv: qkv)
            c.backward(ref, dOut: dOut, probs: probs, qkv: qkv, reference: true)
            assertClose(fast, ref, rtol: attentionRtol, atol: attentionAtol, "dqkv \(c)")
            // Pad columns are nobody's gradient: they keep their initial values exactly.
            for r in 0..<(c.B * c.T) {
                for col in (c.width - c.pad)..<c.width { XCTAssertEqual(fast[r, col], start[r, col]) }
            }
        }
    }

    func testChangingALaterKeyOrValueLeavesEarlierOutputsUnchanged() {
        var rng = RandomGenerator(seed: 26)
        let c = AttentionCase(B: 2, T: 70, NH: 4, NKV: 2, HS: 6, pad: 0)
        let qkv = rng.normalTensor(c.qkvShape)
        let out0 = Tensor(zeros: c.outShape), out1 = Tensor(zeros: c.outShape), probs = Tensor(zeros: c.probsShape)
        c.forward(qkv, out: out0, probs: probs)
        let t0 = 40
        for b in 0..<c.B {
            for col in (c.NH * c.HS)..<c.width { qkv[b * c.T + t0, col] += 1 }  // key and value of position t0
        }
        c.forward(qkv, out: out1, probs: probs)
        for b in 0..<c.B {
            for t in 0..<c.T {
                let a = out0.row(b * c.T + t).array, d = out1.row(b * c.T + t).array
                if t < t0 { XCTAssertEqual(a, d, "b \(b) t \(t) changed by position \(t0)") }
                else { XCTAssertNotEqual(a, d, "b \(b) t \(t) does not see position \(t0)") }
            }
        }
    }

    func testSameBitsForOneAndTwoThreads() {
        var rng = RandomGenerator(seed: 27)
        let c = AttentionCase(B: 2, T: 130, NH: 4, NKV: 2, HS: 8, pad: 0)
        let qkv = rng.normalTensor(c.qkvShape), dOut = rng.normalTensor(c.outShape)
        let saved = Threads.count
        defer { Threads.count = saved }
        var results: [[Float]] = []
        for threads in [1, 2] {
            Threads.count = threads
            let out = Tensor(zeros: c.outShape), probs = Tensor(zeros: c.probsShape), dqkv = Tensor(zeros: c.qkvShape)
            c.forward(qkv, out: out, probs: probs)
            c.backward(dqkv, dOut: dOut, probs: probs, qkv: qkv)
            results.append(out.array + probs.array + dqkv.array)
        }
        XCTAssertEqual(results[0], results[1])
    }
}
