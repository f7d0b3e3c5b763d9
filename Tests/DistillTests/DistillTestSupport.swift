import Distill
import Foundation
import Tensor
import TestSupport
import XCTest

/// Every divergence the objectives offer, with JSD at the GKD default, both sides of it and
/// close to both special-cased ends.
let allDivergences: [Divergence] = [.forwardKL, .reverseKL, .jsd(beta: 0.5), .jsd(beta: 0.1), .jsd(beta: 0.9),
                                    .jsd(beta: 0.01), .jsd(beta: 0.99), .tvd]

/// Distillation temperatures tested: 1 and two others on both sides of it.
let testTemperatures: [Float] = [1, 0.7, 2.5]

/// Float32 kernels against their Double references. Softmax and log-softmax of a float row carry
/// relative errors of a few 1e-7 and the row sums add V terms in Double, so values agree to ~1e-6
/// relative; gradients subtract quantities like `log q − log p − R` of order 1–10, giving absolute
/// errors of ~1e-6 per element. 1e-4 relative with 1e-5 absolute passes those and fails any wrong
/// term, sign or factor of T (differences of order 1e-2 and more).
let fastRtol = 1e-4, fastAtol = 1e-5

/// Double central differences through the Double references: with step 1e-5 on logits of order
/// one, truncation error is ~1e-10 and rounding ~1e-16/1e-5 = 1e-11, so 1e-6 relative with 1e-8
/// absolute is tight yet robust.
let doubleStep = 1e-5, doubleRtol = 1e-6, doubleAtol = 1e-8

/// Runs `body` with ``Threads/count`` set to `n`, restoring the previous setting afterwards.
func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
    let saved = Threads.count
    Threads.count = n
    defer { Threads.count = saved }
    return try body()
}

/// Asserts `a` and `b` hold identical bits.
func assertBitwiseEqual(_ a: [Float], _ b: [Float], _ message: @autoclosure () -> String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(message()): counts differ", file: file, line: line)
    for i in 0..<min(a.count, b.count) where a[i].bitPattern != b[i].bitPattern {
        XCTFail("\(message()): first difference at flat index \(i): \(a[i]) vs \(b[i])", file: file, line: line)
        return
    }
}

/// Central differences of a scalar function of a Double vector.
func numericGradient(_ x: [Double], step: Double = doubleStep, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    return x.indices.map { i in
        let saved = x[i]
        x[i] = saved + step
        let up = f(x)
        x[i] = saved - step
        let down = f(x)
        x[i] = saved
        return (up - down) / (2 * step)
    }
}

/// Normal random Doubles (through the Float generator, so values are exactly representable in Float).
func normalDoubles(_ n: Int, std: Float = 1, rng: inout RandomGenerator) -> [Double] {
    (0..<n).map { _ in Double(rng.normal() * std) }
}

/// The fast kernel on Float copies of `teacher` and `student`: (value, dD/dz).
func fastDivergence(_ d: Divergence, teacher: [Double], student: [Double], temperature: Float) -> (value: Double, gradient: [Double]) {
    let V = teacher.count
    let u = teacher.map { Float($0) }, z = student.map { Float($0) }
    var g = [Float](repeating: 0, count: V)
    let scratch = DivergenceScratch(V: V)
    let value = g.withUnsafeMutableBufferPointer { gb in
        Divergences.evaluate(d, teacher: u, student: z, V: V, temperature: temperature, gradient: gb.baseAddress!,
                             weight: 1, scratch: scratch)
    }
    return (value, g.map { Double($0) })
}

/// A batch for the objectives: (B, T, V) student, teacher and reference logits and (B, T) targets.
struct TestBatch {
    var B: Int, T: Int, V: Int
    var student: [Float], teacher: [Float], reference: [Float]
    var targets: [Int32]

    /// Random logits (std 1.5) and the given targets (count B·T, negative = unsupervised).
    init(B: Int, T: Int, V: Int, targets: [Int32], rng: inout RandomGenerator) {
        precondition(targets.count == B * T)
        self.B = B; self.T = T; self.V = V
        student = (0..<(B * T * V)).map { _ in rng.normal() * 1.5 }
        teacher = (0..<(B * T * V)).map { _ in rng.normal() * 1.5 }
        reference = (0..<(B * T * V)).map { _ in rng.normal() * 1.5 }
        self.targets = targets
    }

    func row(_ logits: [Float], _ r: Int) -> [Double] { logits[(r * V)..<((r + 1) * V)].map { Double($0) } }

    /// Runs `objective` with `scale`, adding into `dLogits`; returns the result.
    func evaluate<O: Objective>(_ objective: inout O, student: [Float]? = nil, dLogits: inout [Float], scale: Float = 1) -> ObjectiveResult {
        let s = student ?? self.student
        return s.withUnsafeBufferPointer { sb in
            teacher.withUnsafeBufferPointer { tb in
                reference.withUnsafeBufferPointer { rb in
                    targets.withUnsafeBufferPointer { yb in
                        dLogits.withUnsafeMutableBufferPointer { gb in
                            objective.evaluate(ObjectiveInput(B: B, T: T, V: V, studentLogits: sb.baseAddress!,
                                                              teacherLogits: tb.baseAddress!, referenceLogits: rb.baseAddress!,
                                                              targets: yb.baseAddress!),
                                               dLogits: gb.baseAddress!, scale: scale)
                        }
                    }
                }
            }
        }
    }

    /// The gradient (scale 1, into zeros) and the result.
    func gradient<O: Objective>(_ objective: inout O) -> (result: ObjectiveResult, gradient: [Float]) {
        var g = [Float](repeating: 0, count: B * T * V)
        let result = evaluate(&objective, dLogits: &g)
        return (result, g)
    }

    /// Checks the objective's gradient against central differences of its own loss (float32
    /// forward, Double loss) with the project's standard tolerances.
    func checkGradient<O: Objective>(_ objective: O, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        var analyticObjective = objective
        let (_, g) = gradient(&analyticObjective)
        let x = Tensor(zeros: [B * T, V]), dx = Tensor(zeros: [B * T, V])
        for i in 0..<x.count { x.pointer[i] = student[i]; dx.pointer[i] = g[i] }
        var lossObjective = objective
        var scratch = [Float](repeating: 0, count: B * T * V)
        assertGradients(wrt: [x], analytic: [dx], names: [message], file: file, line: line) {
            evaluate(&lossObjective, student: x.array, dLogits: &scratch).loss
        }
    }
}
