import Distill
import Foundation
import Tensor
import TestSupport
import XCTest

/// PCL (algorithms.md §5.2): finite differences, the literal per-window reference, thread
/// independence, and two identities — the teacher's log-probabilities as logits are consistent
/// (C = 0 everywhere), and with tau = 1, g = 1, whole-path windows the start window's error is
/// the sequence log-ratio whose expectation under the student is −KL(pi ‖ p_teacher).
final class PCLObjectiveTests: XCTestCase {
    /// Settings swept by the checks: d ∈ {1, 3, whole}, tau ≠ 1, g < 1, and the plain case.
    let sweep: [PCLSettings] = [
        PCLSettings(steps: 1, entropyWeight: 0.7, discount: 0.9),
        PCLSettings(steps: 3, entropyWeight: 1.3, discount: 0.8),
        PCLSettings(steps: nil, entropyWeight: 0.6, discount: 0.95),
        PCLSettings(steps: nil, entropyWeight: 1, discount: 1),
        PCLSettings(steps: 2, entropyWeight: 1, discount: 1),
    ]

    /// B = 3, T = 6 paths: a bootstrapped path 1..<5 (cut state in row 5), a full-length terminal
    /// path, and a short terminal path 2..<4.
    func batch(V: Int, rng: inout RandomGenerator) -> (logits: [Float], actions: [Int32], rewards: [Float], bootstrap: [Bool]) {
        let B = 3, T = 6
        let logits = (0..<(B * T * V)).map { _ in rng.normal() * 1.5 }
        var actions = [Int32](repeating: -1, count: B * T)
        let paths = [1..<5, 0..<6, 2..<4]
        for b in 0..<B { for t in paths[b] { actions[b * T + t] = Int32(rng.next() % UInt64(V)) } }
        let rewards = (0..<(B * T)).map { _ in -abs(rng.normal()) * 2 }
        return (logits, actions, rewards, [true, false, false])
    }

    func run(_ settings: PCLSettings, V: Int, logits: [Float], actions: [Int32], rewards: [Float], bootstrap: [Bool])
        -> (result: ObjectiveResult, gradient: [Float], errors: [Double]) {
        var objective = PCLObjective(settings: settings)
        var g = [Float](repeating: 0, count: logits.count)
        let r = logits.withUnsafeBufferPointer { lb in
            g.withUnsafeMutableBufferPointer { gb in
                objective.evaluate(PCLInput(B: 3, T: 6, V: V, studentLogits: lb.baseAddress!, actions: actions, rewards: rewards,
                                            bootstrap: bootstrap), dLogits: gb.baseAddress!, scale: 1)
            }
        }
        return (r, g, objective.lastErrors)
    }

    func testGradientsMatchFiniteDifferences() {
        var rng = RandomGenerator(seed: 801)
        for settings in sweep {
            let V = 5
            let b = batch(V: V, rng: &rng)
            let (_, g, _) = run(settings, V: V, logits: b.logits, actions: b.actions, rewards: b.rewards, bootstrap: b.bootstrap)
            let x = Tensor(zeros: [b.logits.count]), dx = Tensor(zeros: [b.logits.count])
            for i in 0..<x.count { x.pointer[i] = b.logits[i]; dx.pointer[i] = g[i] }
            assertGradients(wrt: [x], analytic: [dx], names: ["pcl \(settings)"]) {
                run(settings, V: V, logits: x.array, actions: b.actions, rewards: b.rewards, bootstrap: b.bootstrap).result.loss
            }
        }
    }

    /// The fast path against the literal per-window loop in Double, on awkward widths.
    func testMatchesReference() {
        var rng = RandomGenerator(seed: 802)
        for V in [1, 3, 17, 65] {
            for settings in sweep {
                let b = batch(V: V, rng: &rng)
                let fast = run(settings, V: V, logits: b.logits, actions: b.actions, rewards: b.rewards, bootstrap: b.bootstrap)
                let ref = b.logits.withUnsafeBufferPointer {
                    PCLObjectiveReference.evaluate(PCLInput(B: 3, T: 6, V: V, studentLogits: $0.baseAddress!, actions: b.actions,
                                                            rewards: b.rewards, bootstrap: b.bootstrap), settings: settings)
                }
                XCTAssertEqual(fast.result.tokens, 4 + 6 + 2)
                assertClose(fast.result.loss, ref.loss, rtol: 1e-5, atol: 1e-6, "loss V=\(V) \(settings)")
                assertClose(fast.errors, ref.errors, rtol: 1e-5, atol: 1e-5, "errors V=\(V) \(settings)")
                assertClose(fast.gradient, ref.gradient, rtol: 1e-4, atol: 1e-6, "gradient V=\(V) \(settings)")
            }
        }
    }

    func testThreadCountDoesNotChangeBits() {
        var rng = RandomGenerator(seed: 803)
        let b = batch(V: 65, rng: &rng)
        let s = PCLSettings(steps: 3, entropyWeight: 0.8, discount: 0.9)
        let one = withThreads(1) { run(s, V: 65, logits: b.logits, actions: b.actions, rewards: b.rewards, bootstrap: b.bootstrap) }
        let two = withThreads(2) { run(s, V: 65, logits: b.logits, actions: b.actions, rewards: b.rewards, bootstrap: b.bootstrap) }
        assertBitwiseEqual(one.gradient, two.gradient, "gradient")
        XCTAssertEqual(one.result.loss.bitPattern, two.result.loss.bitPattern)
    }

    /// With the student's logits equal to the teacher's log-probabilities (tau = 1, so V = 0 at
    /// every state) and rewards the teacher's log-probabilities of the actions, every window is
    /// consistent: loss 0, gradient 0, for every d and discount — PCL's optimum is the teacher.
    func testTeacherLogProbabilitiesAreConsistent() {
        var rng = RandomGenerator(seed: 804)
        for settings in sweep where settings.entropyWeight == 1 {
            for g in [1.0, 0.85] {
                var s = settings; s.discount = g
                var b = batch(V: 7, rng: &rng)
                for r in 0..<18 {
                    let row = (0..<7).map { Double(b.logits[r * 7 + $0]) }
                    let m = row.max()!, lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
                    for j in 0..<7 { b.logits[r * 7 + j] = Float(row[j] - lse) }
                    if b.actions[r] >= 0 { b.rewards[r] = b.logits[r * 7 + Int(b.actions[r])] }
                }
                let out = run(s, V: 7, logits: b.logits, actions: b.actions, rewards: b.rewards, bootstrap: b.bootstrap)
                XCTAssertLessThan(out.result.loss, 1e-10, "\(s)")
                XCTAssertLessThan(out.gradient.map(abs).max()!, 1e-5, "\(s)")
            }
        }
    }

    /// tau = 1, g = 1, whole path (algorithms.md §5.1): for a complete path y (ending with EOS),
    /// `C(start) + V(s_0) = log p_teacher(y) − log pi(y)`, so `E_{y ~ pi}[C(start) + V(s_0)]` is
    /// minus the sequence-level reverse KL. Checked by enumerating every sequence of a small tree
    /// (tokens {0, 1}, EOS = 2, forced EOS at depth 3) with per-prefix random logits, KL computed
    /// directly from the sequence probabilities.
    func testWholePathIsSequenceReverseKL() {
        let V = 3, eos = 2, depth = 3
        func logits(_ prefix: [Int], salt: UInt64) -> [Float] {
            var rng = RandomGenerator(seed: prefix.reduce(salt) { $0 &* 31 &+ UInt64($1 + 1) })
            var z = (0..<V).map { _ in rng.normal() * 1.2 }
            if prefix.count == depth - 1 { for j in 0..<V where j != eos { z[j] = -.infinity } }
            return z
        }
        func logSoftmax(_ z: [Float]) -> [Double] {
            let m = Double(z.max()!)
            let lse = m + log(z.reduce(0.0) { $0 + exp(Double($1) - m) })
            return z.map { Double($0) - lse }
        }
        var sequences: [[Int]] = []
        func grow(_ p: [Int]) {
            if p.last == eos { sequences.append(p); return }
            for a in 0..<V where p.count < depth - 1 || a == eos { grow(p + [a]) }
        }
        grow([])
        var expectation = 0.0, kl = 0.0, totalProbability = 0.0
        let settings = PCLSettings(steps: nil, entropyWeight: 1, discount: 1)
        for y in sequences {
            let n = y.count
            var studentRows: [Float] = [], rewards: [Float] = [], actions: [Int32] = []
            var logPi = 0.0, logP = 0.0
            for u in 0..<n {
                let prefix = Array(y[..<u])
                let z = logits(prefix, salt: 1), lp = logSoftmax(logits(prefix, salt: 2))
                studentRows += z
                rewards.append(Float(lp[y[u]])); actions.append(Int32(y[u]))
                logPi += logSoftmax(z)[y[u]]; logP += Double(Float(lp[y[u]]))
            }
            var objective = PCLObjective(settings: settings)
            var g = [Float](repeating: 0, count: studentRows.count)
            _ = studentRows.withUnsafeBufferPointer { sb in
                g.withUnsafeMutableBufferPointer { gb in
                    objective.evaluate(PCLInput(B: 1, T: n, V: V, studentLogits: sb.baseAddress!, actions: actions, rewards: rewards,
                                                bootstrap: [false]), dLogits: gb.baseAddress!, scale: 1)
                }
            }
            let z0 = logits([], salt: 1).map(Double.init), m = z0.max()!
            let v0 = m + log(z0.reduce(0) { $0 + exp($1 - m) })
            let c0 = objective.lastErrors[0]
            assertClose(c0 + v0, logP - logPi, rtol: 1e-5, atol: 1e-5, "path \(y)")
            let p = exp(logPi)
            totalProbability += p
            expectation += p * (c0 + v0)
            kl += p * (logPi - logP)
        }
        assertClose(totalProbability, 1, rtol: 1e-9, atol: 1e-9, "the enumeration covers the whole tree")
        XCTAssertGreaterThan(kl, 0.05, "student and teacher differ")
        assertClose(expectation, -kl, rtol: 1e-5, atol: 1e-6)
    }
}
