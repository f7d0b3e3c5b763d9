import Tensor
import XCTest

/// Tolerances for gradient checks of float32 kernels by central differences.
///
/// The forward runs in float32 and the scalar objective is accumulated in Double, so the
/// difference quotient carries rounding noise of about `1e-7 · |L| / h`; with `h = 1e-2` on
/// inputs of order one this is ~1e-5, and the truncation error of the central difference is
/// O(h²) ~ 1e-4. A relative tolerance of 1e-2 with absolute 1e-3 therefore passes correct
/// gradients of smooth kernels and fails any wrong term (a missing factor, a sign, a dropped
/// branch changes gradients by far more than 1%).
public enum GradTolerance {
    public static let step: Float = 1e-2
    public static let rtol = 1e-2
    public static let atol = 1e-3
}

/// A random upstream gradient and the objective `L = Σ g · out` it defines: the standard way to
/// check a backward pass through finite differences of a scalar.
public struct Projection {
    public let weights: Tensor
    public init(shape: [Int], rng: inout RandomGenerator) {
        weights = Tensor(zeros: shape)
        rng.fillNormal(weights)
    }
    /// `Σ_i g_i · out_i` in Double.
    public func callAsFunction(_ out: Tensor) -> Double {
        precondition(out.count == weights.count, "projection of \(out.shape) by \(weights.shape)")
        var s = 0.0
        let g = weights.pointer, o = out.pointer
        for i in 0..<out.count { s += Double(g[i]) * Double(o[i]) }
        return s
    }
}

/// Checks analytic gradients against central finite differences, one line per kernel:
///
///     assertGradients(wrt: [x, w], analytic: [dx, dw]) { forward(); return project(out) }
///
/// Every element of every tensor in `wrt` is perturbed by ±`step`; `loss` must recompute the
/// forward from the current contents of those tensors and return the scalar objective in Double.
/// `analytic[i]` must hold dL/d`wrt[i]` computed by the backward pass before the call.
public func assertGradients(wrt inputs: [Tensor], analytic: [Tensor], names: [String]? = nil,
                            step: Float = GradTolerance.step, rtol: Double = GradTolerance.rtol,
                            atol: Double = GradTolerance.atol,
                            file: StaticString = #filePath, line: UInt = #line,
                            loss: () -> Double) {
    precondition(inputs.count == analytic.count, "assertGradients: \(inputs.count) inputs, \(analytic.count) gradients")
    for (n, (x, g)) in zip(inputs, analytic).enumerated() {
        requireSameShape(x.shape, g.shape, "assertGradients input \(n) and its gradient")
        var numeric = [Double](repeating: 0, count: x.count)
        let p = x.pointer
        for i in 0..<x.count {
            let saved = p[i]
            p[i] = saved + step
            let up = loss()
            p[i] = saved - step
            let down = loss()
            p[i] = saved
            numeric[i] = (up - down) / (2 * Double(step))
        }
        let c = compare(g.array, numeric, rtol: rtol, atol: atol)
        if !c.passed {
            let name = names?[n] ?? "input \(n)"
            var detail = ""
            if let f = c.firstFailure { detail = " (analytic \(g.pointer[f]), numeric \(numeric[f]))" }
            XCTFail("gradient wrt \(name) \(x.shape): \(c)\(detail)", file: file, line: line)
        }
    }
}

/// Random tensors for tests.
public extension RandomGenerator {
    mutating func normalTensor(_ shape: [Int], std: Float = 1) -> Tensor {
        let t = Tensor(zeros: shape)
        fillNormal(t, std: std)
        return t
    }
    mutating func uniformTensor(_ shape: [Int], low: Float = -1, high: Float = 1) -> Tensor {
        let t = Tensor(zeros: shape)
        fillUniform(t, low: low, high: high)
        return t
    }
}

/// Awkward sizes every kernel is tested on.
public let awkwardSizes = [1, 3, 17, 65]
