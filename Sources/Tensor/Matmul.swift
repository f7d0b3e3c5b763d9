import CBLAS
import CKernels
import Foundation

/// Matrix products: one dispatcher over OpenBLAS `sgemm` / `sgemv` and the project's small-M
/// kernel, plus the plain-loop reference every path is tested against.
///
/// Convention (row-major, like BLAS with `CblasRowMajor`):
/// `C (M×N) = alpha · op(A) · op(B) + (accumulate ? C : 0)`, where `op(A)` is `A` (stored M×K)
/// or `Aᵀ` (stored K×M) and `op(B)` is `B` (stored K×N) or `Bᵀ` (stored N×K).
public enum Matmul {
    /// Largest M routed to the weight-read-once kernel (``sd_rows_times_wt``); above it sgemm wins.
    public static let smallRowLimit = 8

    /// The dispatching product. Paths:
    /// - M = 1 or N = 1: `cblas_sgemv` (OpenBLAS's sgemm with one row is 3–5× slower here);
    /// - 2 ≤ M ≤ ``smallRowLimit`` with `B` transposed and `A` not (a linear layer applied to a
    ///   few tokens): the row kernel (AVX-512, AVX2 or portable) that reads each weight once, split over N across threads;
    /// - otherwise `cblas_sgemm`.
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        let beta: Float = accumulate ? 1 : 0
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        if m == 1 {
            // c (1×N) = alpha · a (1×K) · op(B). The K elements of a are contiguous unless
            // transA with lda != 1 (then stride lda): a stored K×1 has stride lda.
            let incA = transA ? lda : 1
            if transB {  // B is N×K: c = B · a
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb),
                            a, Int32(incA), beta, c, 1)
            } else {     // B is K×N: c = Bᵀ · a
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb),
                            a, Int32(incA), beta, c, 1)
            }
            return
        }
        if n == 1 {
            // c (M×1, stride ldc) = alpha · op(A) · b (K×1).
            let incB = transB ? 1 : ldb
            if transA {  // A is K×M: c = Aᵀ · b
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(m), alpha, a, Int32(lda),
                            b, Int32(incB), beta, c, Int32(ldc))
            } else {     // A is M×K: c = A · b
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), alpha, a, Int32(lda),
                            b, Int32(incB), beta, c, Int32(ldc))
            }
            return
        }
        if m <= smallRowLimit && transB && !transA && alpha == 1 {
            smallRows(m: m, n: n, k: k, a: a, lda: lda, w: b, ldw: ldb, accumulate: accumulate, c: c, ldc: ldc)
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `C (M×N) (+)= A (M×K) · Wᵀ` with `W` stored N×K, reading `W` once, weight row by weight
    /// row (``sd_rows_times_wt``), split over N across ``Threads/count`` threads. Each output
    /// element is one fixed-order dot product, so results do not depend on M or the thread count.
    @inlinable
    public static func smallRows(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, w: UnsafePointer<Float>, ldw: Int,
        accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        // A chunk is worth a thread from ~32K multiply-adds (128 KB of weights at m = 1): the
        // pool hands out a job in about a microsecond, and streaming 128 KB takes ~5 µs.
        let minChunk = max(16, 32_768 / max(1, m * k))
        parallelFor(n, minChunk: minChunk) { r in
            sd_rows_times_wt(Int32(m), Int32(r.count), Int32(k), a, Int32(lda), w + r.lowerBound * ldw,
                             Int32(ldw), c + r.lowerBound, Int32(ldc), accumulate ? 1 : 0)
        }
    }

    /// Plain-loop reference of ``gemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:accumulate:c:ldc:)``,
    /// accumulating in Double.
    public static func gemmReference(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(x) * Double(y)
                }
                let v = Float(Double(alpha) * s)
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + v : v
            }
        }
    }
}

// MARK: - Tensor-level products (shape-checked, throwing)

extension Tensor {
    /// Interprets the tensor as a matrix: all leading dimensions are rows, the last is columns.
    @inlinable public var matrixShape: (rows: Int, cols: Int) {
        let cols = shape.last ?? 1
        return (cols == 0 ? 0 : count / cols, cols)
    }
}

/// `op(a) · op(b)` for rank-2 tensors, into a new tensor or accumulated into `out`.
/// - Throws: ``TensorError/shapeMismatch(_:)`` naming both shapes when inner dimensions differ
///   or `out` has the wrong shape.
@discardableResult
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                   into out: Tensor? = nil, accumulate: Bool = false) throws -> Tensor {
    guard a.rank == 2, b.rank == 2 else {
        throw TensorError.shapeMismatch("matmul needs rank-2 tensors, got \(a.shape) and \(b.shape)")
    }
    let (m, ka) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    guard ka == kb else {
        throw TensorError.shapeMismatch(
            "matmul inner dimensions differ: op(a) is \([m, ka]) (a \(a.shape)), op(b) is \([kb, n]) (b \(b.shape))")
    }
    let c = out ?? Tensor(zeros: [m, n])
    try checkSameShape(c.shape, [m, n], "matmul output")
    Matmul.gemm(transA: transposeA, transB: transposeB, m: m, n: n, k: ka,
                a: a.pointer, lda: a.shape[1], b: b.pointer, ldb: b.shape[1],
                accumulate: accumulate, c: c.pointer, ldc: n)
    return c
}

extension Matmul {
    /// Whether the small-M kernel runs a vectorised (AVX2+FMA or AVX-512) path on this CPU.
    public static var smallRowKernelAvailable: Bool { sd_has_avx2() != 0 }

    /// The instruction set of the small-M kernel on this CPU: "AVX-512", "AVX2" or "portable".
    public static var smallRowKernelPath: String {
        switch sd_rows_times_wt_isa() {
        case 2: return "AVX-512"
        case 1: return "AVX2"
        default: return "portable"
        }
    }

    /// The instruction set of the quantised (GGUF-typed) kernels on this CPU: "AMX + AVX-512 VNNI",
    /// "AVX-512 VNNI", "AVX2 + AVX-VNNI" (``sd_x8_avx_vnni_preferred()``), "AVX2" or "portable"
    /// (after the SPECDISTILL_ISA cap), and whether the 512-bit pairs of groups are off
    /// (``sd_x8_pairs_preferred()``, AMD Zen 4).
    public static var quantKernelPath: String {
        let pairs = sd_x8_pairs_preferred() != 0 ? "" : " (256-bit: no 512-bit pairs on this CPU)"
        switch sd_quant_isa() {
        case 3: return "AMX + AVX-512 VNNI" + pairs
        case 2: return "AVX-512 VNNI" + pairs
        case 1: return sd_x8_avx_vnni_preferred() != 0 ? "AVX2 + AVX-VNNI" : "AVX2"
        default: return "portable"
        }
    }

    /// One line for benchmark headers: both kernel families' instruction sets and the cap, and
    /// where the quantised kernels' one-row passes prefetch (``sd_x8_prefetch_l2()``: into L2 once
    /// the loaded native weights exceed the last-level cache).
    public static var kernelPaths: String {
        let cap = ProcessInfo.processInfo.environment["SPECDISTILL_ISA"].map { " (SPECDISTILL_ISA=\($0))" } ?? ""
        let prefetch = String(format: "one-row prefetch into %@ (last-level cache %.0f MB)", sd_x8_prefetch_l2() != 0 ? "L2" : "L1",
                              Double(sd_llc_bytes()) / 1e6)
        return "OpenBLAS \(BLASCore.current), row kernel \(smallRowKernelPath), quantised kernel \(quantKernelPath)\(cap), \(prefetch)"
    }
}
