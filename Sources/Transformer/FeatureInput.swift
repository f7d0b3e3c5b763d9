import Tensor

/// The target-feature input of a draft that reads the target's hidden states (EAGLE-style, with
/// staleness):
///
///     h₀[t] = e(x_t) + W_{d_t} · f_{t − d_t}
///
/// - `f_s` (Cf) is the target's final-normed hidden state at position s — the input of its output
///   layer, which predicted token s + 1 (``InferenceSession/lastHiddenStates``);
/// - `d_t ∈ 1…D` is the staleness: how many positions older than t the newest target state known
///   when the draft reads token t is. While drafting γ tokens after a verification the draft reads
///   its first token with d = 1, the next with d = 2, …; a position without a known state (a prompt
///   position the target only prefilled) has no feature (d = 0, h₀ = e(x_t));
/// - `W_d` (C × Cf) is one matrix per staleness, `feature_proj.weight` (D, C, Cf), zero at
///   initialisation, so a fresh feature draft computes exactly what the plain draft computes.
///
/// Backward (the features are inputs, they get no gradient): `dW_d = Σ_{t : d_t = d} dh₀[t] ⊗ f[t]`,
/// where f[t] is the feature row the position read. The embedding receives dh₀ unchanged.
///
/// Training groups the rows by d (one gemm per staleness); inference adds each row on its own with
/// the row kernel. ``addReference(into:features:staleness:rows:W:C:Cf:D:)`` and
/// ``gradientReference(dW:dX:features:staleness:rows:C:Cf:D:)`` are the plain loops the fast forms
/// are tested against.
public enum FeatureInput {
    /// The parameter's name in ``ModelLayout`` (and in safetensors / GGUF files of the draft).
    public static let parameterName = "feature_proj.weight"

    /// `x[r] += W_{d[r]} · f[r]` for every row with `d[r]` in 1…D (rows with 0 are left alone):
    /// x (rows, C), f (rows, Cf), W (D, C, Cf). Each row is one fixed-order dot product per
    /// output (``Matmul/smallRows``), so the result does not depend on the rows appended with it.
    public static func add(into x: UnsafeMutablePointer<Float>, features f: UnsafePointer<Float>,
                           staleness d: UnsafePointer<Int32>, rows: Int, W: UnsafePointer<Float>, C: Int, Cf: Int, D: Int) {
        for r in 0..<rows where d[r] > 0 {
            let k = Int(d[r])
            precondition(k <= D, "FeatureInput: staleness \(k) beyond the draft's \(D)")
            Matmul.smallRows(m: 1, n: C, k: Cf, a: f + r * Cf, lda: Cf, w: W + (k - 1) * C * Cf, ldw: Cf,
                             accumulate: true, c: x + r * C, ldc: C)
        }
    }

    /// The training form of ``add(into:features:staleness:rows:W:C:Cf:D:)``: rows grouped by
    /// staleness, gathered into `scratch`, one gemm per d, scattered back.
    public static func addGrouped(into x: UnsafeMutablePointer<Float>, features f: UnsafePointer<Float>,
                           staleness d: UnsafePointer<Int32>, rows: Int, W: UnsafePointer<Float>, C: Int, Cf: Int, D: Int,
                           scratch: FeatureScratch) {
        for k in 1...max(D, 1) where D > 0 {
            let n = scratch.gather(k, features: f, staleness: d, rows: rows, Cf: Cf)
            guard n > 0 else { continue }
            Matmul.gemm(transA: false, transB: true, m: n, n: C, k: Cf, a: scratch.f.pointer, lda: Cf,
                        b: W + (k - 1) * C * Cf, ldb: Cf, accumulate: false, c: scratch.x.pointer, ldc: C)
            // Scatter-add: C floats a row, too small for a parallel dispatch each.
            let g = scratch.x.pointer
            for (i, r) in scratch.index[0..<n].enumerated() {
                let dst = x + r * C, src = g + i * C
                for j in 0..<C { dst[j] += src[j] }
            }
        }
    }

    /// `dW_d += Σ_{r : d[r] = d} dX[r] ⊗ f[r]` (dW (D, C, Cf), dX (rows, C)), grouped by d.
    public static func gradientGrouped(dW: UnsafeMutablePointer<Float>, dX: UnsafePointer<Float>, features f: UnsafePointer<Float>,
                                staleness d: UnsafePointer<Int32>, rows: Int, C: Int, Cf: Int, D: Int, scratch: FeatureScratch) {
        for k in 1...max(D, 1) where D > 0 {
            let n = scratch.gather(k, features: f, staleness: d, rows: rows, Cf: Cf)
            guard n > 0 else { continue }
            for (i, r) in scratch.index[0..<n].enumerated() { (scratch.x.pointer + i * C).update(from: dX + r * C, count: C) }
            Matmul.gemm(transA: true, transB: false, m: C, n: Cf, k: n, a: scratch.x.pointer, lda: C, b: scratch.f.pointer, ldb: Cf,
                        accumulate: true, c: dW + (k - 1) * C * Cf, ldc: Cf)
        }
    }

    /// Plain-loop reference of the forward (Double accumulation).
    public static func addReference(into x: UnsafeMutablePointer<Float>, features f: UnsafePointer<Float>,
                                    staleness d: UnsafePointer<Int32>, rows: Int, W: UnsafePointer<Float>, C: Int, Cf: Int, D: Int) {
        for r in 0..<rows where d[r] > 0 {
            let w = W + (Int(d[r]) - 1) * C * Cf
            for i in 0..<C {
                var s = 0.0
                for j in 0..<Cf { s += Double(w[i * Cf + j]) * Double(f[r * Cf + j]) }
                x[r * C + i] += Float(s)
            }
        }
    }

    /// Plain-loop reference of the weight gradient (Double accumulation per element).
    public static func gradientReference(dW: UnsafeMutablePointer<Float>, dX: UnsafePointer<Float>, features f: UnsafePointer<Float>,
                                         staleness d: UnsafePointer<Int32>, rows: Int, C: Int, Cf: Int, D: Int) {
        for k in 1...max(D, 1) where D > 0 {
            for i in 0..<C {
                for j in 0..<Cf {
                    var s = 0.0
                    for r in 0..<rows where d[r] == Int32(k) { s += Double(dX[r * C + i]) * Double(f[r * Cf + j]) }
                    dW[(k - 1) * C * Cf + i * Cf + j] += Float(s)
                }
            }
        }
    }
}

/// The training workspace's feature rows: the input f (rows, Cf) and staleness d (rows) of the next
/// forward (``TrainingWorkspace/setFeatures(_:staleness:)``), and gather buffers for the grouped gemms.
public final class FeatureScratch {
    public let rows: Int, Cf: Int
    /// The feature each row reads (rows, Cf), and its staleness (0: none).
    public let input: Tensor
    public var staleness: [Int32]
    let f: Tensor, x: Tensor
    var index: [Int]

    public init(rows: Int, C: Int, Cf: Int) {
        self.rows = rows; self.Cf = Cf
        input = Tensor(zeros: [rows, Cf]); staleness = [Int32](repeating: 0, count: rows)
        f = Tensor(zeros: [rows, Cf]); x = Tensor(zeros: [rows, C]); index = [Int](repeating: 0, count: rows)
    }

    /// Gathers the feature rows of staleness k into `f`, their row numbers into `index`; returns the count.
    func gather(_ k: Int, features src: UnsafePointer<Float>, staleness d: UnsafePointer<Int32>, rows: Int, Cf: Int) -> Int {
        var n = 0
        for r in 0..<rows where d[r] == Int32(k) {
            (f.pointer + n * Cf).update(from: src + r * Cf, count: Cf)
            index[n] = r; n += 1
        }
        return n
    }
}
