import Distill
import Foundation
import Tensor
import TestSupport
import XCTest

/// algorithms.md §6 item 1: gradients of every divergence by finite differences, the zero-sum
/// invariant, and the fast float32 kernels against the Double references.
final class DivergenceGradientTests: XCTestCase {
    /// The Double references' gradient formulas (the §3.1 table) against central differences of
    /// their values (computed from the definitions), at T = 1 and T ≠ 1.
    func testReferenceGradientsMatchDoubleFiniteDifferences() {
        var rng = RandomGenerator(seed: 501)
        for d in allDivergences + [.jsd(beta: 1e-4), .jsd(beta: 1 - 1e-4)] {
            for T in [1.0, 0.7, 2.5] {
                for V in [2, 3, 17] {
                    var u = normalDoubles(V, std: 2, rng: &rng), z = normalDoubles(V, std: 2, rng: &rng)
                    while d == .tvd && !awayFromTies(u, z, T, step: doubleStep) {
                        u = normalDoubles(V, std: 2, rng: &rng); z = normalDoubles(V, std: 2, rng: &rng)
                    }
                    let analytic = DivergenceReference.evaluate(d, teacher: u, student: z, temperature: T).gradient
                    let numeric = numericGradient(z) { DivergenceReference.evaluate(d, teacher: u, student: $0, temperature: T).value }
                    assertClose(analytic, numeric, rtol: doubleRtol, atol: doubleAtol, "\(d) T=\(T) V=\(V)")
                }
            }
        }
    }

    /// The fast kernels' gradients against central differences of their own float32 values.
    /// JSD near the ends is divided by β (or 1 − β) so the check is not passed by the absolute
    /// tolerance alone.
    func testFastGradientsMatchFiniteDifferences() {
        var rng = RandomGenerator(seed: 502)
        for d in allDivergences {
            var normaliser: Float = 1
            if case .jsd(let beta) = d { normaliser = min(beta, 1 - beta) }
            for T in testTemperatures {
                for V in [3, 17] {
                    var u = rng.normalTensor([V], std: 2), z = rng.normalTensor([V], std: 2)
                    while d == .tvd && !awayFromTies(u.array.map(Double.init), z.array.map(Double.init), Double(T),
                                                     step: Double(GradTolerance.step)) {
                        u = rng.normalTensor([V], std: 2); z = rng.normalTensor([V], std: 2)
                    }
                    let scratch = DivergenceScratch(V: V)
                    let g = Tensor(zeros: [V])
                    _ = Divergences.evaluate(d, teacher: u.pointer, student: z.pointer, V: V, temperature: T,
                                             gradient: g.pointer, weight: 1 / normaliser, scratch: scratch)
                    assertGradients(wrt: [z], analytic: [g], names: ["\(d) T=\(T) V=\(V)"]) {
                        Divergences.evaluate(d, teacher: u.pointer, student: z.pointer, V: V, temperature: T, gradient: nil,
                                             scratch: scratch) / Double(normaliser)
                    }
                }
            }
        }
    }

    /// Fast float32 values and gradients against the Double references on awkward widths and one
    /// large row, accumulating with a weight into a prefilled gradient.
    func testFastMatchesReference() {
        var rng = RandomGenerator(seed: 503)
        for d in allDivergences {
            for T in testTemperatures {
                for V in awkwardSizes + [1000] {
                    let u = normalDoubles(V, std: 3, rng: &rng), z = normalDoubles(V, std: 3, rng: &rng)
                    let ref = DivergenceReference.evaluate(d, teacher: u, student: z, temperature: Double(T))
                    let prefill = (0..<V).map { _ in rng.normal() }
                    var g = prefill
                    let weight: Float = 0.37
                    let scratch = DivergenceScratch(V: V + 5)  // wider scratches are allowed
                    let value = g.withUnsafeMutableBufferPointer {
                        Divergences.evaluate(d, teacher: u.map(Float.init), student: z.map(Float.init), V: V, temperature: T,
                                             gradient: $0.baseAddress!, weight: weight, scratch: scratch)
                    }
                    assertClose(value, ref.value, rtol: fastRtol, atol: fastAtol, "\(d) value T=\(T) V=\(V)")
                    let added = zip(g, prefill).map { Double($0) - Double($1) }
                    assertClose(added, ref.gradient.map { Double(weight) * $0 }, rtol: fastRtol, atol: fastAtol,
                                "\(d) gradient T=\(T) V=\(V)")
                }
            }
        }
    }

    /// Every gradient sums to zero over the vocabulary (softmax shift invariance), in the fast
    /// kernels and in the references.
    func testGradientsSumToZero() {
        var rng = RandomGenerator(seed: 504)
        for d in allDivergences {
            for T in testTemperatures {
                let u = normalDoubles(65, std: 3, rng: &rng), z = normalDoubles(65, std: 3, rng: &rng)
                let fast = fastDivergence(d, teacher: u, student: z, temperature: T).gradient
                let ref = DivergenceReference.evaluate(d, teacher: u, student: z, temperature: Double(T)).gradient
                let l1 = fast.reduce(0) { $0 + abs($1) }
                XCTAssertGreaterThan(l1, 1e-5, "\(d): gradient is trivially zero")
                // Float rounding: each term carries a relative error of a few 1e-7 of the sizes
                // entering it (q_j, |log q_j − log p_j|, the row's KL), so the sum is ≲ 1e-5 of the
                // gradient's L1 norm; a missing or wrong term (e.g. dropping the −KL(q‖m) of JSD
                // or the A of TVD) makes it a sizeable fraction of the norm.
                XCTAssertLessThan(abs(fast.reduce(0, +)), 1e-4 * l1, "\(d) T=\(T): fast gradient sum")
                XCTAssertLessThan(abs(ref.reduce(0, +)), 1e-13, "\(d) T=\(T): reference gradient sum")
            }
        }
    }

    /// Logits of −∞ masked in both rows (padding of the logit width) change nothing: the values
    /// equal those of the unmasked entries alone and masked entries get zero gradient.
    func testMaskedEntriesContributeNothing() {
        var rng = RandomGenerator(seed: 505)
        let u = normalDoubles(9, std: 2, rng: &rng), z = normalDoubles(9, std: 2, rng: &rng)
        let masked = [3, 7, 10]
        func withMask(_ x: [Double]) -> [Double] {
            var y = x
            for i in masked { y.insert(-.infinity, at: i) }
            return y
        }
        for d in allDivergences {
            let plain = fastDivergence(d, teacher: u, student: z, temperature: 1.3)
            let padded = fastDivergence(d, teacher: withMask(u), student: withMask(z), temperature: 1.3)
            XCTAssertTrue(padded.value.isFinite, "\(d): masked value not finite")
            assertClose(padded.value, plain.value, rtol: 1e-6, atol: 1e-7, "\(d) value with masked entries")
            var unmaskedGradient = padded.gradient
            for i in masked.reversed() {
                XCTAssertEqual(unmaskedGradient[i], 0, "\(d): masked entry \(i) got a gradient")
                unmaskedGradient.remove(at: i)
            }
            assertClose(unmaskedGradient, plain.gradient, rtol: 1e-6, atol: 1e-7, "\(d) gradient with masked entries")
        }
    }

    /// TVD's finite differences are valid only if no perturbation crosses a tie p_i = q_i. Moving
    /// one logit by `step` changes each q_i by at most `q_i · step / T` (|dq_i/dz_j| ≤ q_i / T),
    /// so a relative gap `|p_i − q_i| > 4 q_i step / T` for every i keeps all signs fixed.
    private func awayFromTies(_ u: [Double], _ z: [Double], _ T: Double, step: Double) -> Bool {
        let p = DivergenceReference.distribution(u, temperature: T).p, q = DivergenceReference.distribution(z, temperature: T).p
        return zip(p, q).allSatisfy { abs($0 - $1) > 4 * $1 * step / T }
    }
}
