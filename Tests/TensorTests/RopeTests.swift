import Foundation
import Tensor
import TestSupport
import XCTest

/// The table rounds cos/sin to float32 (relative error ≤ 6e-8) and the rotation is two float32
/// products and a sum: the fast path agrees with the Double reference to ~2e-7 relative for unit
/// inputs. 1e-5 leaves room and still fails a wrong frequency or pairing by orders of magnitude.
private let ropeRtol = 1e-5, ropeAtol = 1e-6

final class RopeTests: XCTestCase {
    struct Layout { let rows: Int, heads: Int, HS: Int, rotaryDim: Int, pad: Int, start: Int, period: Int
        var stride: Int { heads * HS + pad } }

    let layouts = [Layout(rows: 1, heads: 1, HS: 2, rotaryDim: 2, pad: 0, start: 0, period: 1),
                   Layout(rows: 6, heads: 3, HS: 4, rotaryDim: 4, pad: 1, start: 0, period: 3),    // B 2, T 3
                   Layout(rows: 17, heads: 2, HS: 16, rotaryDim: 8, pad: 3, start: 5, period: 17),  // partial
                   Layout(rows: 65, heads: 9, HS: 64, rotaryDim: 64, pad: 0, start: 200, period: 65)]

    func testForwardAndBackwardMatchReference() {
        var rng = RandomGenerator(seed: 41)
        for l in layouts {
            let table = RopeTable(maxPositions: 300, rotaryDim: l.rotaryDim, theta: 10_000)
            let x = rng.normalTensor([l.rows, l.stride])
            let fast = x.copy(), ref = x.copy()
            Rope.forward(fast.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS, table: table)
            Rope.forwardReference(ref.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS,
                                  rotaryDim: l.rotaryDim, theta: 10_000)
            assertClose(fast, ref, rtol: ropeRtol, atol: ropeAtol, "forward \(l)")
            let dFast = x.copy(), dRef = x.copy()
            Rope.backward(dFast.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS, table: table)
            Rope.backwardReference(dRef.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS,
                                   rotaryDim: l.rotaryDim, theta: 10_000)
            assertClose(dFast, dRef, rtol: ropeRtol, atol: ropeAtol, "backward \(l)")
        }
    }

    /// Pins the rotate-half pairing and the frequency formula on hand-computed values: with HS 4,
    /// rotaryDim 4, theta 100, the pairs are (x0, x2) at frequency 1 and (x1, x3) at 100^(-1/2) = 0.1.
    func testRotateHalfConventionByHand() throws {
        let table = RopeTable(maxPositions: 4, rotaryDim: 4, theta: 100)
        let x = try Tensor(shape: [1, 4], values: [1, 1, 0, 0])
        Rope.forward(x.pointer, stride: 4, rows: 1, start: 3, period: 1, heads: 1, HS: 4, table: table)
        let expected = [cos(3.0), cos(0.3), sin(3.0), sin(0.3)]
        assertClose(x.array, expected, rtol: 1e-6, atol: 1e-7)
    }

    func testRotationPreservesEachPairNorm() {
        var rng = RandomGenerator(seed: 42)
        let l = layouts[3]
        let table = RopeTable(maxPositions: 300, rotaryDim: l.rotaryDim, theta: 10_000)
        let x = rng.normalTensor([l.rows, l.stride]), y = x.copy()
        Rope.forward(y.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS, table: table)
        let half = l.rotaryDim / 2
        var before: [Double] = [], after: [Double] = []
        for r in 0..<l.rows {
            for h in 0..<l.heads {
                for i in 0..<half {
                    let a = h * l.HS + i, b = a + half
                    before.append(Double(x[r, a] * x[r, a] + x[r, b] * x[r, b]))
                    after.append(Double(y[r, a] * y[r, a] + y[r, b] * y[r, b]))
                }
            }
        }
        assertClose(after, before, rtol: 1e-5, atol: 1e-6)
    }

    /// backward ∘ forward = identity, and backward is the transpose: ⟨forward(x), y⟩ = ⟨x, backward(y)⟩.
    func testBackwardInvertsAndTransposesForward() {
        var rng = RandomGenerator(seed: 43)
        for l in layouts {
            let table = RopeTable(maxPositions: 300, rotaryDim: l.rotaryDim, theta: 500_000)
            let x = rng.normalTensor([l.rows, l.stride]), y = rng.normalTensor([l.rows, l.stride])
            let fx = x.copy(), by = y.copy()
            Rope.forward(fx.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS, table: table)
            let round = fx.copy()
            Rope.backward(round.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS, table: table)
            assertClose(round, x, rtol: 1e-5, atol: 1e-6, "backward(forward(x)) \(l)")
            Rope.backward(by.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS, table: table)
            let lhs = zip(fx.array, y.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x.array, by.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            assertClose(lhs, rhs, rtol: 1e-5, atol: 1e-4, "transpose \(l)")
        }
    }

    /// Dimensions rotaryDim..<HS of every head and the columns past heads·HS keep their bits.
    func testPartialRotaryLeavesTailUntouched() {
        var rng = RandomGenerator(seed: 44)
        let l = layouts[2]
        let table = RopeTable(maxPositions: 64, rotaryDim: l.rotaryDim, theta: 10_000)
        let x = rng.normalTensor([l.rows, l.stride]), y = x.copy()
        Rope.forward(y.pointer, stride: l.stride, rows: l.rows, start: l.start, period: l.period, heads: l.heads, HS: l.HS, table: table)
        var changed = 0
        for r in 0..<l.rows {
            for col in 0..<l.stride {
                let inRotary = col < l.heads * l.HS && col % l.HS < l.rotaryDim
                if inRotary { if x[r, col] != y[r, col] { changed += 1 } }
                else { XCTAssertEqual(x[r, col], y[r, col], "row \(r) col \(col) is outside the rotary dims") }
            }
        }
        XCTAssertGreaterThan(changed, l.rows * l.heads * l.rotaryDim / 2)  // positions > 0 do rotate
    }

    /// ⟨R_m q, R_n k⟩ depends only on m − n (the point of RoPE, Su et al. 2021, eq. 16).
    func testDotProductDependsOnlyOnRelativePosition() {
        var rng = RandomGenerator(seed: 45)
        let HS = 32
        let table = RopeTable(maxPositions: 400, rotaryDim: HS, theta: 10_000)
        let q = rng.normalTensor([1, HS]), k = rng.normalTensor([1, HS])
        func rotatedDot(_ m: Int, _ n: Int) -> Double {
            let a = q.copy(), b = k.copy()
            Rope.forward(a.pointer, stride: HS, rows: 1, start: m, period: 1, heads: 1, HS: HS, table: table)
            Rope.forward(b.pointer, stride: HS, rows: 1, start: n, period: 1, heads: 1, HS: HS, table: table)
            return zip(a.array, b.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        for offset in [0, 1, 7, 40] {
            let base = rotatedDot(offset, 0)
            for shift in [3, 100, 350] { assertClose(rotatedDot(offset + shift, shift), base, rtol: 1e-4, atol: 1e-4, "offset \(offset) shift \(shift)") }
        }
        XCTAssertGreaterThan(abs(rotatedDot(7, 0) - rotatedDot(0, 0)), 1e-2)  // and it does depend on m − n
    }

    func testSameBitsForOneAndTwoThreads() {
        var rng = RandomGenerator(seed: 46)
        let table = RopeTable(maxPositions: 256, rotaryDim: 64, theta: 10_000)
        let x = rng.normalTensor([4096, 6 * 64])
        let saved = Threads.count
        defer { Threads.count = saved }
        var results: [[Float]] = []
        for threads in [1, 2] {
            Threads.count = threads
            let y = x.copy()
            Rope.forward(y.pointer, stride: 6 * 64, rows: 4096, start: 0, period: 256, heads: 6, HS: 64, table: table)
            results.append(y.array)
        }
        XCTAssertEqual(results[0], results[1])
    }
}
