import CKernels
import Tensor
import TestSupport
import Transformer
import XCTest

final class SamplerTests: XCTestCase {
    func testArgmaxLowestIndexWinsTies() {
        let x: [Float] = [0.5, 2, -1, 2, 2]
        XCTAssertEqual(x.withUnsafeBufferPointer { Sampler.argmax($0.baseAddress!, count: 5) }, 1)
        let y: [Float] = [3]
        XCTAssertEqual(y.withUnsafeBufferPointer { Sampler.argmax($0.baseAddress!, count: 1) }, 0)
    }

    /// `sd_argmax` on every instruction-set path against the scalar loop written here: every length
    /// 1…80 (each vector tail), a row of 49,152, few distinct values (many ties), ±inf, NaN
    /// anywhere including x[0], and rows of only -inf / NaN.
    func testArgmaxEqualsTheScalarLoopOnEveryPath() {
        func reference(_ x: [Float]) -> Int {
            var best = 0, value = x[0]
            for i in 1..<x.count where x[i] > value { best = i; value = x[i] }
            return best
        }
        var rng = RandomGenerator(seed: 17)
        var rows: [[Float]] = []
        for n in Array(1...80) + [255, 49_152] {
            for kind in 0..<6 {
                var x = (0..<n).map { _ in Float(Int(rng.uniform() * 7)) - 3 }   // 7 levels: ties
                switch kind {
                case 1: x[Int(rng.uniform() * Float(n)) % n] = .nan
                case 2: x[0] = .nan
                case 3: x = x.map { $0 > 1 ? .infinity : $0 }
                case 4: x = x.map { _ in rng.uniform() < 0.5 ? -.infinity : .nan }
                case 5: x = (0..<n).map { _ in rng.normal() }; x[n - 1] = 9   // the last entry wins
                default: break
                }
                rows.append(x)
            }
        }
        rows.append([Float](repeating: -.infinity, count: 33))
        let paths = [0, 1, 2].filter { $0 <= sd_rows_times_wt_isa() }
        XCTAssertFalse(paths.isEmpty)
        for x in rows {
            let want = reference(x)
            for isa in paths {
                XCTAssertEqual(x.withUnsafeBufferPointer { sd_argmax_with(Int32(isa), $0.baseAddress!, $0.count) }, want,
                               "isa \(isa), n \(x.count)")
            }
            XCTAssertEqual(x.withUnsafeBufferPointer { Sampler.argmax($0.baseAddress!, count: $0.count) }, want)
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" && sd_cpu_has_avx2_fma() == 1 {
            XCTAssertTrue(paths.contains(1), "the AVX2 path was not reached on an AVX2 machine")
        }
    }

    /// Reference distribution computed independently in Double: softmax(z/T), keep top-k by
    /// (prob desc, index asc), then the shortest prefix with mass >= p, renormalise.
    func referenceDistribution(_ z: [Float], _ s: SamplingSettings) -> [Double] {
        let m = z.max()!
        var p = z.map { exp(Double($0 - m) / Double(s.temperature)) }
        let total = p.reduce(0, +)
        p = p.map { $0 / total }
        var order = Array(p.indices).sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }
        if s.topK > 0 { order = Array(order.prefix(s.topK)) }
        if s.topP < 1 {
            let kept = order.reduce(0) { $0 + p[$1] }
            var mass = 0.0, cut = order.count
            for (j, i) in order.enumerated() { mass += p[i] / kept; if mass >= Double(s.topP) { cut = j + 1; break } }
            order = Array(order.prefix(cut))
        }
        let z2 = order.reduce(0) { $0 + p[$1] }
        var out = [Double](repeating: 0, count: z.count)
        for i in order { out[i] = p[i] / z2 }
        return out
    }

    func testDistributionMatchesReference() {
        var rng = RandomGenerator(seed: 21)
        for V in [1, 3, 17, 65] {
            for s in [SamplingSettings(temperature: 1), SamplingSettings(temperature: 0.5, topK: 3),
                      SamplingSettings(temperature: 1.3, topP: 0.8), SamplingSettings(temperature: 0.7, topK: 10, topP: 0.9),
                      SamplingSettings(temperature: 0), SamplingSettings(temperature: 1, topK: V + 5)] {
                let z = (0..<V).map { _ in rng.normal() * 2 }
                let sampler = Sampler(settings: s, vocabularySize: V)
                var probs = [Float](repeating: -1, count: V)
                z.withUnsafeBufferPointer { zp in probs.withUnsafeMutableBufferPointer { sampler.distribution(zp.baseAddress!, into: $0.baseAddress!) } }
                let expected: [Double]
                if s.isGreedy {
                    var e = [Double](repeating: 0, count: V); e[z.indices.max { z[$0] < z[$1] || (z[$0] == z[$1] && $0 > $1) }!] = 1
                    expected = e
                } else { expected = referenceDistribution(z, s) }
                assertClose(probs, expected, rtol: 1e-5, atol: 1e-6, "V \(V) \(s)")
            }
        }
    }

    /// A trimmed draft head writes a huge negative logit for every token outside its subset: those
    /// entries are exactly 0 (the vectorised exp gives 0 below −87.33), the rest
    /// match the Double reference, and the interleaved Double sum equals a plain one within
    /// rounding.
    func testExcludedLogitsGetZeroAndTheRestMatchesTheReference() {
        var rng = RandomGenerator(seed: 5)
        let V = 1_003
        let z: [Float] = (0..<V).map { i in i % 7 == 3 ? rng.normal() * 3 : (i % 2 == 0 ? -1e30 : -200) }
        for t: Float in [1, 0.6] {
            let sampler = Sampler(settings: SamplingSettings(temperature: t), vocabularySize: V)
            var probs = [Float](repeating: -1, count: V)
            z.withUnsafeBufferPointer { zp in probs.withUnsafeMutableBufferPointer { sampler.distribution(zp.baseAddress!, into: $0.baseAddress!) } }
            for i in 0..<V where i % 7 != 3 { XCTAssertEqual(probs[i], 0, "excluded index \(i) at T \(t)") }
            assertClose(probs, referenceDistribution(z, SamplingSettings(temperature: t)), rtol: 1e-5, atol: 1e-7, "T \(t)")
        }
        let w: [Float] = (0..<V).map { _ in abs(rng.normal()) }
        let plain = w.reduce(0.0) { $0 + Double($1) }
        XCTAssertEqual(w.withUnsafeBufferPointer { RandomGenerator.sum($0.baseAddress!, count: V) }, plain, accuracy: 1e-12 * plain)
    }

    /// Ties at the top-k boundary go to the lower index.
    func testTopKTieBreak() {
        let z: [Float] = [1, 2, 2, 2, 0]
        let sampler = Sampler(settings: SamplingSettings(temperature: 1, topK: 2), vocabularySize: 5)
        var probs = [Float](repeating: 0, count: 5)
        z.withUnsafeBufferPointer { zp in probs.withUnsafeMutableBufferPointer { sampler.distribution(zp.baseAddress!, into: $0.baseAddress!) } }
        XCTAssertEqual(probs, [0, 0.5, 0.5, 0, 0])
    }

    /// Chi-square of 60k seeded draws against the filtered distribution (top-k 4 of 6 tokens);
    /// 3 degrees of freedom, critical value 16.27 at p = 0.001.
    func testSamplingFollowsDistribution() {
        let z: [Float] = [0.1, 1.2, -0.5, 0.9, 2.0, -3]
        let s = SamplingSettings(temperature: 0.8, topK: 4)
        let sampler = Sampler(settings: s, vocabularySize: 6)
        let expected = referenceDistribution(z, s)
        var rng = RandomGenerator(seed: 5)
        var counts = [Int](repeating: 0, count: 6)
        var scratch = [Float](repeating: 0, count: 6)
        let n = 60_000
        z.withUnsafeBufferPointer { zp in
            scratch.withUnsafeMutableBufferPointer { sp in
                for _ in 0..<n { counts[sampler.sample(zp.baseAddress!, scratch: sp.baseAddress!, rng: &rng)] += 1 }
            }
        }
        var chi2 = 0.0
        for i in 0..<6 {
            if expected[i] == 0 { XCTAssertEqual(counts[i], 0); continue }
            let e = expected[i] * Double(n)
            chi2 += (Double(counts[i]) - e) * (Double(counts[i]) - e) / e
        }
        XCTAssertLessThan(chi2, 16.27)
    }
}
