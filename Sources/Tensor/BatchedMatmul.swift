/// Batched matrix products: the same product shape applied to `count` items laid out at fixed
/// element strides (the heads of an attention layer, the sequences of a batch).
extension Matmul {
    /// `C_i (M×N) = op(A_i) · op(B_i) (+ C_i)` for `i < count`, where `A_i = a + i·strideA`,
    /// `B_i = b + i·strideB`, `C_i = c + i·strideC` and `op` follows the convention of
    /// ``gemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:accumulate:c:ldc:)`` (row-major; `A` stored
    /// M×K or, transposed, K×M; `B` stored K×N or, transposed, N×K).
    ///
    /// Each item goes through the ``gemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:accumulate:c:ldc:)``
    /// dispatcher in order, so every item gets the BLAS threads (OpenBLAS 0.3.21 has no batched
    /// sgemm, and calling it from several threads at once serialises on its server lock).
    /// Items may share inputs (a stride of 0 broadcasts one matrix); outputs must not overlap
    /// unless `accumulate` is true and the overlap is meant as a sum (items are applied in order).
    /// - Parameters:
    ///   - count: number of items.
    ///   - transA, transB: whether `A_i`, `B_i` are stored transposed.
    ///   - m, n, k: product dimensions of one item.
    ///   - a, lda, strideA: first operand, its row stride, and the element distance between items.
    ///   - b, ldb, strideB: second operand, the same.
    ///   - accumulate: add to `C_i` instead of overwriting it.
    ///   - c, ldc, strideC: outputs, their row stride, and the element distance between items.
    public static func batched(count: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                               a: UnsafePointer<Float>, lda: Int, strideA: Int,
                               b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                               accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
        precondition(count >= 0 && m >= 0 && n >= 0 && k >= 0,
                     "Matmul.batched: negative size (count \(count), m \(m), n \(n), k \(k))")
        for i in 0..<count {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a + i * strideA, lda: lda,
                 b: b + i * strideB, ldb: ldb, accumulate: accumulate, c: c + i * strideC, ldc: ldc)
        }
    }

    /// Plain-loop reference of
    /// ``batched(count:transA:transB:m:n:k:a:lda:strideA:b:ldb:strideB:accumulate:c:ldc:strideC:)``,
    /// accumulating each dot product in Double: ``gemmReference(transA:transB:m:n:k:alpha:a:lda:b:ldb:accumulate:c:ldc:)``
    /// on each item.
    public static func batchedReference(count: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                        a: UnsafePointer<Float>, lda: Int, strideA: Int,
                                        b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                                        accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
        for item in 0..<count {
            gemmReference(transA: transA, transB: transB, m: m, n: n, k: k, a: a + item * strideA, lda: lda,
                          b: b + item * strideB, ldb: ldb, accumulate: accumulate, c: c + item * strideC, ldc: ldc)
        }
    }
}
