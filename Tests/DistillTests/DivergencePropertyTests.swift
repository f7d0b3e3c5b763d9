import Distill
import Foundation
import Tensor
import TestSupport
import XCTest

/// algorithms.md §6 items 2 and 3: JSD endpoints and continuity, D(p ‖ p) = 0, TVD ∈ [0, 1],
/// JSD(0.5) symmetric, and hand-computed values that pin the direction conventions.
final class DivergencePropertyTests: XCTestCase {
    /// β = 0 is exactly forward KL and β = 1 exactly reverse KL (value and gradient, same bits).
    func testJSDEndpointsAreExactlyForwardAndReverseKL() {
        var rng = RandomGenerator(seed: 511)
        for T in testTemperatures {
            let u = normalDoubles(33, std: 2, rng: &rng), z = normalDoubles(33, std: 2, rng: &rng)
            let j0 = fastDivergence(.jsd(beta: 0), teacher: u, student: z, temperature: T)
            let fkl = fastDivergence(.forwardKL, teacher: u, student: z, temperature: T)
            let j1 = fastDivergence(.jsd(beta: 1), teacher: u, student: z, temperature: T)
            let rkl = fastDivergence(.reverseKL, teacher: u, student: z, temperature: T)
            XCTAssertGreaterThan(fkl.value, 0.1, "test point must be far from p = q")
            XCTAssertEqual(j0.value, fkl.value, "JSD(0) = FKL at T=\(T)")
            XCTAssertEqual(j0.gradient, fkl.gradient, "JSD(0) gradient = FKL gradient at T=\(T)")
            XCTAssertEqual(j1.value, rkl.value, "JSD(1) = RKL at T=\(T)")
            XCTAssertEqual(j1.gradient, rkl.gradient, "JSD(1) gradient = RKL gradient at T=\(T)")
            let r0 = DivergenceReference.jsd(beta: 0, teacher: u, student: z, temperature: Double(T))
            let r1 = DivergenceReference.jsd(beta: 1, teacher: u, student: z, temperature: Double(T))
            XCTAssertEqual(r0.value, DivergenceReference.forwardKL(teacher: u, student: z, temperature: Double(T)).value)
            XCTAssertEqual(r1.value, DivergenceReference.reverseKL(teacher: u, student: z, temperature: Double(T)).value)
        }
    }

    /// Continuity at the ends. With m = q + β(p − q), expanding the logs to second order gives
    ///   KL(p ‖ m) = FKL − β χ²(p‖q) + O(β²),   KL(q ‖ m) = β²/2 χ²(p‖q) + O(β³),
    /// so JSD(β) = β FKL − β²/2 χ²(p‖q) + O(β³) with χ²(p‖q) = Σ (p − q)²/q; symmetrically
    /// JSD(1 − γ) = γ RKL − γ²/2 χ²(q‖p) + O(γ³). The gradient is β·∇FKL + O(β²) (resp.
    /// γ·∇RKL + O(γ²)). Checked on the Double reference at β = 1e-4, and on the fast float kernel
    /// (which evaluates log(m/q) with log1p/expm1 to stay accurate there) to float accuracy.
    func testJSDIsContinuousAtBothEnds() {
        var rng = RandomGenerator(seed: 512)
        let u = normalDoubles(17, std: 1, rng: &rng), z = normalDoubles(17, std: 1, rng: &rng)
        let (p, _) = DivergenceReference.distribution(u, temperature: 1)
        let (q, _) = DivergenceReference.distribution(z, temperature: 1)
        let chiPQ = zip(p, q).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) / $1.1 }
        let chiQP = zip(p, q).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) / $1.0 }
        let fkl = DivergenceReference.forwardKL(teacher: u, student: z), rkl = DivergenceReference.reverseKL(teacher: u, student: z)
        XCTAssertGreaterThan(chiPQ, 0.1)
        let e = 1e-4
        // Remainders O(e³) / e = O(e²) ≈ 1e-8 times third-order sums of order ≤ 100 here.
        let nearZero = DivergenceReference.jsd(beta: e, teacher: u, student: z)
        assertClose(nearZero.value / e, fkl.value - e / 2 * chiPQ, rtol: 0, atol: 1e-6, "JSD(β)/β near β = 0")
        XCTAssertGreaterThan(abs(nearZero.value / e - fkl.value), 0.1 * e * chiPQ, "the β² term is visible: the expansion is tested")
        assertClose(nearZero.gradient.map { $0 / e }, fkl.gradient, rtol: 0, atol: 1e-3, "∇JSD(β)/β near β = 0")
        let nearOne = DivergenceReference.jsd(beta: 1 - e, teacher: u, student: z)
        let gamma = 1 - (1 - e)  // the γ actually represented
        assertClose(nearOne.value / gamma, rkl.value - gamma / 2 * chiQP, rtol: 0, atol: 1e-6, "JSD(1−γ)/γ near β = 1")
        assertClose(nearOne.gradient.map { $0 / gamma }, rkl.gradient, rtol: 0, atol: 1e-3, "∇JSD(1−γ)/γ near β = 1")

        // The fast kernel at float β = 1e-4 and 1 − 2^-12 (exactly representable): J/β against
        // the Double expansion; 1e-4 relative is float accuracy of FKL/RKL themselves.
        let small: Float = 1e-4, gammaF: Float = 1.0 / 4096
        let fastZero = fastDivergence(.jsd(beta: small), teacher: u, student: z, temperature: 1)
        let b = Double(small)
        assertClose(fastZero.value / b, fkl.value - b / 2 * chiPQ, rtol: 1e-4, atol: 1e-6, "fast JSD(β)/β near 0")
        assertClose(fastZero.gradient.map { $0 / b }, fkl.gradient, rtol: 0, atol: 1e-3, "fast ∇JSD(β)/β near 0")
        let fastOne = fastDivergence(.jsd(beta: 1 - gammaF), teacher: u, student: z, temperature: 1)
        let g = Double(gammaF)
        // Here the O(γ³)/γ remainder is ~γ² · 100 ≈ 6e-6.
        assertClose(fastOne.value / g, rkl.value - g / 2 * chiQP, rtol: 1e-4, atol: 2e-5, "fast JSD(1−γ)/γ near 1")
        assertClose(fastOne.gradient.map { $0 / g }, rkl.gradient, rtol: 0, atol: 1e-2, "fast ∇JSD(1−γ)/γ near 1")
    }

    /// D(p ‖ p) = 0 with zero gradient: exactly when the logits are identical, to rounding when
    /// they differ by a constant shift (the same distribution).
    func testDivergenceOfADistributionFromItselfIsZero() {
        var rng = RandomGenerator(seed: 513)
        for d in allDivergences {
            for T in testTemperatures {
                let u = normalDoubles(65, std: 3, rng: &rng)
                let same = fastDivergence(d, teacher: u, student: u, temperature: T)
                XCTAssertEqual(same.value, 0, "\(d)(p‖p) at T=\(T)")
                XCTAssertTrue(same.gradient.allSatisfy { $0 == 0 }, "\(d)(p‖p) gradient at T=\(T)")
                let shifted = fastDivergence(d, teacher: u, student: u.map { $0 + 4 }, temperature: T)
                XCTAssertLessThan(abs(shifted.value), 1e-5, "\(d)(p‖p) with shifted logits at T=\(T)")
                // TVD's subgradient at rounding-level near-ties is O(q) by nature (see its DocC).
                if d != .tvd { XCTAssertLessThan(shifted.gradient.map(abs).max()!, 1e-5, "\(d)(p‖p) gradient, shifted logits") }
                let ref = DivergenceReference.evaluate(d, teacher: u, student: u.map { $0 + 4 }, temperature: Double(T))
                XCTAssertLessThan(abs(ref.value), 1e-13, "reference \(d)(p‖p)")
            }
        }
    }

    /// 0 ≤ TVD ≤ 1 over rows from near-equal to near-disjoint; the extremes are reached.
    func testTVDIsBetweenZeroAndOne() {
        var rng = RandomGenerator(seed: 514)
        for std in [0.1, 1, 5, 30] as [Float] {
            for _ in 0..<20 {
                let u = normalDoubles(17, std: std, rng: &rng), z = normalDoubles(17, std: std, rng: &rng)
                let v = fastDivergence(.tvd, teacher: u, student: z, temperature: 1).value
                XCTAssertTrue(v >= 0 && v <= 1, "TVD \(v) outside [0, 1] at std \(std)")
            }
        }
        // Point masses on different tokens: TVD → 1 (here 1 − O(e^-60)).
        var u = [Double](repeating: 0, count: 5), z = [Double](repeating: 0, count: 5)
        u[1] = 60; z[3] = 60
        let disjoint = fastDivergence(.tvd, teacher: u, student: z, temperature: 1).value
        XCTAssertTrue(disjoint <= 1 && disjoint > 1 - 1e-6, "disjoint TVD \(disjoint)")
    }

    /// JSD(0.5) is symmetric; more generally JSD_β(p ‖ q) = JSD_{1−β}(q ‖ p).
    func testJSDHalfIsSymmetric() {
        var rng = RandomGenerator(seed: 515)
        for T in testTemperatures {
            let u = normalDoubles(65, std: 2, rng: &rng), z = normalDoubles(65, std: 2, rng: &rng)
            let pq = fastDivergence(.jsd(beta: 0.5), teacher: u, student: z, temperature: T).value
            let qp = fastDivergence(.jsd(beta: 0.5), teacher: z, student: u, temperature: T).value
            XCTAssertGreaterThan(pq, 0.05)
            assertClose(pq, qp, rtol: 1e-5, atol: 1e-7, "JSD(0.5) symmetric at T=\(T)")
            let r = DivergenceReference.jsd(beta: 0.3, teacher: u, student: z, temperature: Double(T)).value
            let rSwapped = DivergenceReference.jsd(beta: 0.7, teacher: z, student: u, temperature: Double(T)).value
            assertClose(r, rSwapped, rtol: 1e-12, atol: 0, "JSD_0.3(p‖q) = JSD_0.7(q‖p)")
            XCTAssertGreaterThan(abs(r - DivergenceReference.jsd(beta: 0.3, teacher: z, student: u, temperature: Double(T)).value),
                                 1e-6, "JSD_0.3 is not symmetric, so the swap identity is informative")
        }
    }

    /// Hand-computed values on two tokens pin down which argument is the teacher and which one
    /// β weights: p = (0.8, 0.2) (teacher), q = (0.4, 0.6) (student), logits = log-probabilities.
    func testHandComputedValuesFixTheConventions() {
        let u = [log(0.8), log(0.2)], z = [log(0.4), log(0.6)]
        let fkl = 0.8 * log(0.8 / 0.4) + 0.2 * log(0.2 / 0.6)
        let rkl = 0.4 * log(0.4 / 0.8) + 0.6 * log(0.6 / 0.2)
        // β = 0.25: m = 0.25 p + 0.75 q = (0.5, 0.5).
        let jsd = 0.25 * (0.8 * log(0.8 / 0.5) + 0.2 * log(0.2 / 0.5)) + 0.75 * (0.4 * log(0.4 / 0.5) + 0.6 * log(0.6 / 0.5))
        let tvd = 0.4
        let cases: [(Divergence, Double)] = [(.forwardKL, fkl), (.reverseKL, rkl), (.jsd(beta: 0.25), jsd), (.tvd, tvd)]
        for (d, expected) in cases {
            assertClose(fastDivergence(d, teacher: u, student: z, temperature: 1).value, expected, rtol: 1e-5, atol: 1e-7, "fast \(d)")
            assertClose(DivergenceReference.evaluate(d, teacher: u, student: z).value, expected, rtol: 1e-12, atol: 0, "reference \(d)")
        }
        // FKL gradient (q − p)/T at T = 1: (−0.4, 0.4); RKL ≠ FKL here (the test distinguishes them).
        assertClose(fastDivergence(.forwardKL, teacher: u, student: z, temperature: 1).gradient, [-0.4, 0.4], rtol: 1e-5, atol: 1e-7)
        XCTAssertGreaterThan(abs(fkl - rkl), 0.04)
    }
}
