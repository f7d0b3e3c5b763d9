import Distill
import Foundation
import Tensor
import TestSupport
import XCTest

/// A teacher row made sparse by the test itself (Double, from the definition): the K most
/// probable ids of softmax(u/T), their log-probs and log of the rest (summed directly).
struct TestSparseRow {
    var ids: [Int32], logProbs: [Float], logTail: Float
    var p: [Double]  // the full teacher distribution, for oracles

    init(teacher u: [Double], K: Int, temperature: Double) {
        let (p, logP) = DivergenceReference.distribution(u, temperature: temperature)
        let order = p.indices.sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }
        let top = Array(order.prefix(K))
        ids = top.map { Int32($0) }
        logProbs = top.map { Float(logP[$0]) }
        let tail = order.dropFirst(K).reduce(0.0) { $0 + p[$1] }
        logTail = tail > 0 ? Float(Foundation.log(tail)) : -.infinity
        self.p = p
    }
}

/// The bucketed divergence written out in Double from algorithms.md §7 (no shared code with the
/// kernel): buckets = the teacher ids that are student columns + "rest"; teacher conditioned on them.
func referenceBucketed(_ d: Divergence, row: TestSparseRow, student z: [Double], subset: [Int32]?, temperature: Double) -> Double {
    let (q, _) = DivergenceReference.distribution(z, temperature: temperature)
    let columnOf: (Int32) -> Int? = { id in subset == nil ? (Int(id) < z.count ? Int(id) : nil) : subset!.firstIndex(of: id) }
    var P: [Double] = [], Q: [Double] = [], used = Set<Int>()
    for (k, id) in row.ids.enumerated() {
        guard let c = columnOf(id) else { continue }
        P.append(Foundation.exp(Double(row.logProbs[k]))); Q.append(q[c]); used.insert(c)
    }
    P.append(row.logTail.isFinite ? Foundation.exp(Double(row.logTail)) : 0)
    Q.append(q.indices.filter { !used.contains($0) }.reduce(0.0) { $0 + q[$1] })
    let Z = P.reduce(0, +)
    P = P.map { $0 / Z }
    func kl(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0.0) { $0 + ($1.0 > 0 ? $1.0 * Foundation.log($1.0 / $1.1) : 0) } }
    switch d {
    case .forwardKL: return kl(P, Q)
    case .reverseKL: return kl(Q, P)
    case .jsd(let betaF):
        let beta = Double(betaF)
        if beta == 0 { return kl(P, Q) }
        if beta == 1 { return kl(Q, P) }
        let M = zip(P, Q).map { beta * $0 + (1 - beta) * $1 }
        return beta * kl(P, M) + (1 - beta) * kl(Q, M)
    case .tvd: return 0.5 * zip(P, Q).reduce(0.0) { $0 + abs($1.0 - $1.1) }
    }
}

/// The fast kernel on one row: (value, dD/dz).
func fastBucketed(_ d: Divergence, row: TestSparseRow, student z: [Double], subset: StudentIDs?, temperature: Float) -> (Double, [Double]) {
    let V = z.count, K = row.ids.count
    let zf = z.map { Float($0) }
    var g = [Float](repeating: 0, count: V)
    let scratch = BucketScratch(V: V, K: K)
    let value = g.withUnsafeMutableBufferPointer { gb in
        BucketedDivergences.evaluate(d, ids: row.ids, logProbs: row.logProbs, logTail: row.logTail, K: K, student: zf, V: V,
                                     subset: subset, temperature: temperature, gradient: gb.baseAddress!, scratch: scratch)
    }
    return (value, g.map { Double($0) })
}

final class BucketedDivergenceTests: XCTestCase {
    let V = 40

    /// K = V: every id is its own bucket and the tail is empty, so the bucketed value and gradient
    /// equal the dense Double reference (float tolerances of the dense kernels, `fastRtol/fastAtol`).
    func testFullKEqualsDenseObjective() {
        var rng = RandomGenerator(seed: 11)
        for d in allDivergences {
            for temperature in testTemperatures {
                let u = normalDoubles(V, std: 2, rng: &rng), z = normalDoubles(V, std: 2, rng: &rng)
                let row = TestSparseRow(teacher: u, K: V, temperature: Double(temperature))
                XCTAssertEqual(row.logTail, -.infinity)
                let dense = DivergenceReference.evaluate(d, teacher: u, student: z, temperature: Double(temperature))
                let (value, gradient) = fastBucketed(d, row: row, student: z, subset: nil, temperature: temperature)
                assertClose(value, dense.value, rtol: fastRtol, atol: fastAtol, "\(d) T=\(temperature) value")
                assertClose(gradient, dense.gradient, rtol: fastRtol, atol: fastAtol, "\(d) T=\(temperature) gradient")
            }
        }
    }

    /// Small K: the bucketed divergence is a lower bound (data processing), and the gap obeys the
    /// tail-mass bounds of ``BucketedDivergences`` with r the teacher's and Q_rest the student's mass
    /// outside the top-K: FKL gap = r·KL(p̂‖q̂), RKL gap = Q_rest·KL(q̂‖p̂) (normalised tails, exact
    /// identities), TVD gap ≤ min(r, Q_rest), JSD(β) gap ≤ β log(1/β) r + (1−β) log(1/(1−β)) Q_rest.
    func testSmallKIsALowerBoundWithinTheTailBound() {
        var rng = RandomGenerator(seed: 12)
        let slack = 1e-5  // float kernel vs Double oracle
        for K in [1, 4, 12] {
            for d in allDivergences {
                let u = normalDoubles(V, std: 2, rng: &rng), z = normalDoubles(V, std: 2, rng: &rng)
                let row = TestSparseRow(teacher: u, K: K, temperature: 1)
                let full = DivergenceReference.evaluate(d, teacher: u, student: z).value
                let bucketed = fastBucketed(d, row: row, student: z, subset: nil, temperature: 1).0
                let gap = full - bucketed
                XCTAssertGreaterThanOrEqual(gap, -slack, "\(d) K=\(K): bucketed \(bucketed) above full \(full)")
                let (q, _) = DivergenceReference.distribution(z, temperature: 1)
                let tail = row.ids.count < V ? Set(0..<V).subtracting(row.ids.map { Int($0) }).sorted() : []
                let r = tail.reduce(0.0) { $0 + row.p[$1] }, qT = tail.reduce(0.0) { $0 + q[$1] }
                let pHat = tail.map { row.p[$0] / r }, qHat = tail.map { q[$0] / qT }
                func kl(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0.0) { $0 + $1.0 * Foundation.log($1.0 / $1.1) } }
                switch d {
                case .forwardKL: assertClose(gap, r * kl(pHat, qHat), rtol: 1e-4, atol: slack, "FKL gap K=\(K)")
                case .reverseKL: assertClose(gap, qT * kl(qHat, pHat), rtol: 1e-4, atol: slack, "RKL gap K=\(K)")
                case .tvd: XCTAssertLessThanOrEqual(gap, min(r, qT) + slack, "TVD gap K=\(K)")
                case .jsd(let b):
                    let beta = Double(b)
                    let bound = beta * Foundation.log(1 / beta) * r + (1 - beta) * Foundation.log(1 / (1 - beta)) * qT
                    XCTAssertLessThanOrEqual(gap, bound + slack, "JSD(\(beta)) gap K=\(K)")
                }
            }
        }
    }

    /// dD̄/dz against central differences of the Double reference bucketed value, for every
    /// divergence, with and without a student subset (which drops some of the teacher's top-K).
    /// Tolerances: the kernel's gradient is float (`fastRtol/fastAtol`), the differences Double.
    func testGradientsMatchFiniteDifferences() {
        var rng = RandomGenerator(seed: 13)
        var subsetIDs = (0..<Int32(V)).map { $0 }
        for i in stride(from: V - 1, to: 0, by: -1) { subsetIDs.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let subset = Array(subsetIDs.prefix(25))
        for d in allDivergences {
            for useSubset in [false, true] {
                let temperature: Float = useSubset ? 1.6 : 1
                let u = normalDoubles(V, std: 2, rng: &rng)
                let z = normalDoubles(useSubset ? subset.count : V, std: 2, rng: &rng)
                let row = TestSparseRow(teacher: u, K: 6, temperature: Double(temperature))
                if useSubset { XCTAssertTrue(row.ids.contains { !subset.contains($0) }, "the subset should drop a top-K id") }
                let (value, gradient) = fastBucketed(d, row: row, student: z, subset: useSubset ? StudentIDs(subset) : nil,
                                                     temperature: temperature)
                let reference = { (x: [Double]) in
                    referenceBucketed(d, row: row, student: x, subset: useSubset ? subset : nil, temperature: Double(temperature))
                }
                assertClose(value, reference(z), rtol: fastRtol, atol: fastAtol, "\(d) subset=\(useSubset) value")
                assertClose(gradient, numericGradient(z, reference), rtol: fastRtol, atol: fastAtol, "\(d) subset=\(useSubset) gradient")
                XCTAssertEqual(gradient.reduce(0, +), 0, accuracy: 1e-6, "\(d): gradient must sum to zero")
            }
        }
    }

    /// A subset that is the whole vocabulary in order gives bit-for-bit the no-subset result, and
    /// the same vocabulary permuted (with the logits permuted alike) gives the same value.
    func testFullVocabularySubsetEqualsNoSubset() {
        var rng = RandomGenerator(seed: 14)
        var perm = (0..<Int32(V)).map { $0 }
        for i in stride(from: V - 1, to: 0, by: -1) { perm.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        for d in allDivergences {
            let u = normalDoubles(V, rng: &rng), z = normalDoubles(V, rng: &rng)
            let row = TestSparseRow(teacher: u, K: 7, temperature: 1)
            let plain = fastBucketed(d, row: row, student: z, subset: nil, temperature: 1)
            let identity = fastBucketed(d, row: row, student: z, subset: StudentIDs((0..<Int32(V)).map { $0 }), temperature: 1)
            XCTAssertEqual(plain.0.bitPattern, identity.0.bitPattern, "\(d) value")
            XCTAssertEqual(plain.1, identity.1, "\(d) gradient")
            let permuted = fastBucketed(d, row: row, student: perm.map { z[Int($0)] }, subset: StudentIDs(perm), temperature: 1)
            assertClose(permuted.0, plain.0, rtol: 1e-5, atol: 1e-7, "\(d) permuted value")
            assertClose(permuted.1, perm.map { plain.1[Int($0)] }, rtol: 1e-5, atol: 1e-7, "\(d) permuted gradient")
        }
    }
}
