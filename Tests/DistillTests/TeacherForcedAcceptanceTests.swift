import Distill
import Foundation
import Tensor
import TestSupport
import XCTest

/// Teacher-forced acceptance (algorithms.md §2.5): both forms on identical, disjoint and
/// hand-computed distributions, the identity Σ min(p, q) = 1 − TVD, accumulation, threads.
final class TeacherForcedAcceptanceTests: XCTestCase {
    /// p == q accepts always: both forms are 1.
    func testIdenticalDistributionsGiveOne() {
        var rng = RandomGenerator(seed: 541)
        let logits = (0..<(5 * 33)).map { _ in rng.normal() * 2 }
        let targets: [Int32] = [0, 1, -1, 2, 3]
        for T: Float in [1, 0.5] {
            let a = teacherForcedAcceptance(student: logits, teacher: logits, targets: targets, rows: 5, V: 33, temperature: T)
            XCTAssertEqual(a.count, 4)
            assertClose(a.sampling, 1, rtol: 0, atol: 1e-6, "sampling form at T=\(T)")
            XCTAssertEqual(a.greedy, 1)
        }
    }

    /// Disjoint supports (−∞ logits elsewhere) never accept: both forms are 0.
    func testDisjointSupportsGiveZero() {
        let inf = -Float.infinity
        let teacher: [Float] = [1, 2, inf, inf, 0, inf, inf, inf]
        let student: [Float] = [inf, inf, 3, 0, inf, 1, 2, 5]
        let a = teacherForcedAcceptance(student: student, teacher: teacher, targets: [1, 0], rows: 2, V: 4)
        XCTAssertEqual(a.sampling, 0)
        XCTAssertEqual(a.greedy, 0)
        XCTAssertEqual(a.count, 2)
    }

    /// Two supervised rows and one ignored row, logits = log-probabilities:
    /// row 0: p = (.5, .3, .2), q = (.2, .3, .5): Σ min = .2 + .3 + .2 = .7, argmaxes 0 ≠ 2;
    /// row 1: p = (.6, .3, .1), q = (.5, .4, .1): Σ min = .5 + .3 + .1 = .9, argmaxes agree;
    /// row 2 (ignored) disagrees completely. Means: sampling .8, greedy .5.
    /// At T = 2, softmax(log p / 2) = √p / Σ√p, so Σ min uses the renormalised square roots
    /// (the argmaxes do not change).
    func testHandComputedExample() {
        let p = [[0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.98, 0.01, 0.01]]
        let q = [[0.2, 0.3, 0.5], [0.5, 0.4, 0.1], [0.01, 0.01, 0.98]]
        let teacher = p.flatMap { $0.map { Float(log($0)) } }, student = q.flatMap { $0.map { Float(log($0)) } }
        let targets: [Int32] = [7, 3, -1]
        let a = teacherForcedAcceptance(student: student, teacher: teacher, targets: targets, rows: 3, V: 3)
        assertClose(a.sampling, 0.8, rtol: 0, atol: 1e-6)
        XCTAssertEqual(a.greedy, 0.5)
        XCTAssertEqual(a.count, 2)

        func sharpened(_ x: [Double]) -> [Double] { let s = x.map(sqrt); let t = s.reduce(0, +); return s.map { $0 / t } }
        let expectedT2 = (0..<2).map { r in zip(sharpened(p[r]), sharpened(q[r])).reduce(0.0) { $0 + min($1.0, $1.1) } }
        let b = teacherForcedAcceptance(student: student, teacher: teacher, targets: targets, rows: 3, V: 3, temperature: 2)
        assertClose(b.sampling, (expectedT2[0] + expectedT2[1]) / 2, rtol: 0, atol: 1e-6, "T = 2")
        XCTAssertGreaterThan(b.sampling, a.sampling, "a higher temperature flattens both and raises the overlap here")
        XCTAssertEqual(b.greedy, 0.5)
    }

    /// Greedy ties go to the lowest index on both sides.
    func testGreedyTiesBreakToTheLowestIndex() {
        let teacher: [Float] = [1, 1, 0, /**/ 0, 1, 1]
        let student: [Float] = [1, 0.5, 1, /**/ 0, 0.5, 1]
        // Row 0: argmax u = 0 (tie 0/1), argmax z = 0 (tie 0/2): agree. Row 1: 1 vs 2: disagree.
        let a = teacherForcedAcceptance(student: student, teacher: teacher, targets: [0, 0], rows: 2, V: 3)
        XCTAssertEqual(a.greedy, 0.5)
    }

    /// Σ min(p, q) = 1 − TVD(p, q) on random rows, against the Double reference TVD.
    func testSamplingFormIsOneMinusTVD() {
        var rng = RandomGenerator(seed: 542)
        let V = 65, rows = 6, T: Float = 1.4
        let teacher = (0..<(rows * V)).map { _ in rng.normal() * 2 }, student = (0..<(rows * V)).map { _ in rng.normal() * 2 }
        let targets = [Int32](repeating: 0, count: rows)
        let a = teacherForcedAcceptance(student: student, teacher: teacher, targets: targets, rows: rows, V: V, temperature: T)
        let expected = (0..<rows).map { r -> Double in
            let u = teacher[(r * V)..<((r + 1) * V)].map(Double.init), z = student[(r * V)..<((r + 1) * V)].map(Double.init)
            return 1 - DivergenceReference.tvd(teacher: u, student: z, temperature: Double(T)).value
        }.reduce(0, +) / Double(rows)
        assertClose(a.sampling, expected, rtol: 1e-5, atol: 1e-6)
    }

    /// The accumulator over two batches equals one call on their concatenation; results do not
    /// depend on the thread count.
    func testAccumulationAndThreadIndependence() {
        var rng = RandomGenerator(seed: 543)
        let V = 1500, rows = 24
        let teacher = (0..<(rows * V)).map { _ in rng.normal() * 2 }
        let student = teacher.map { $0 + rng.normal() }
        let targets = (0..<rows).map { Int32($0 % 5 == 0 ? -1 : 1) }
        let whole = withThreads(1) { teacherForcedAcceptance(student: student, teacher: teacher, targets: targets, rows: rows, V: V) }
        let two = withThreads(2) { teacherForcedAcceptance(student: student, teacher: teacher, targets: targets, rows: rows, V: V) }
        XCTAssertEqual(whole.sampling.bitPattern, two.sampling.bitPattern, "1 vs 2 threads")
        XCTAssertEqual(whole.greedy, two.greedy)
        XCTAssertTrue(whole.greedy > 0 && whole.greedy < 1, "the example has both agreeing and disagreeing rows")
        var acc = TeacherForcedAcceptance()
        let split = 10 * V
        acc.add(student: student, teacher: teacher, targets: targets, rows: 10, V: V)
        Array(student[split...]).withUnsafeBufferPointer { s in
            Array(teacher[split...]).withUnsafeBufferPointer { t in
                Array(targets[10...]).withUnsafeBufferPointer { y in
                    acc.add(student: s.baseAddress!, teacher: t.baseAddress!, targets: y.baseAddress!, rows: rows - 10, V: V)
                }
            }
        }
        XCTAssertEqual(acc.count, whole.count)
        assertClose(acc.sampling, whole.sampling, rtol: 1e-14, atol: 0)
        XCTAssertEqual(acc.greedy, whole.greedy)
        XCTAssertEqual(TeacherForcedAcceptance().sampling, 0, "no positions: 0, not NaN")
    }
}
