/// Embedding lookup: `out[r, :] = table[ids[r], :]` for a `(V, C)` table and `rows` ids
/// (rows = B·T token ids, or positions for a learned position table).
public enum Embedding {
    /// Gathers one table row per id.
    /// - Parameters:
    ///   - out: `(rows, C)`.
    ///   - ids: `(rows)` row indices into `table`, each in `0..<V` (a precondition checks ≥ 0;
    ///     callers validate `< V`, as ``embedding(ids:table:)`` does).
    ///   - table: `(V, C)`.
    public static func forward(out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, table: UnsafePointer<Float>,
                               rows: Int, C: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(C)) { range in
            for r in range {
                let id = Int(ids[r])
                precondition(id >= 0, "Embedding.forward: negative id \(id) at row \(r)")
                (out + r * C).update(from: table + id * C, count: C)
            }
        }
    }

    /// Scatter-add: `dTable[ids[r], :] += dOut[r, :]` for every row, accumulating (repeated ids
    /// add up). Parallel over columns: each column of `dTable` is updated by one thread in row
    /// order, so the result does not depend on ``Threads/count``.
    /// - Parameters:
    ///   - dTable: `(V, C)`, accumulated into.
    ///   - dOut: `(rows, C)` upstream gradient.
    ///   - ids: `(rows)` the forward's ids.
    public static func backward(dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, ids: UnsafePointer<Int32>,
                                rows: Int, C: Int) {
        parallelFor(C, minChunk: VectorMath.columnChunk(rows: rows)) { cols in
            for r in 0..<rows {
                let id = Int(ids[r])
                precondition(id >= 0, "Embedding.backward: negative id \(id) at row \(r)")
                let src = dOut + r * C, dst = dTable + id * C
                for c in cols { dst[c] += src[c] }
            }
        }
    }

    /// Plain-loop reference of ``forward(out:ids:table:rows:C:)``.
    public static func forwardReference(out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, table: UnsafePointer<Float>,
                                        rows: Int, C: Int) {
        for r in 0..<rows { for c in 0..<C { out[r * C + c] = table[Int(ids[r]) * C + c] } }
    }

    /// Plain-loop reference of ``backward(dTable:dOut:ids:rows:C:)``: each touched table row
    /// gets the Double sum of its rows of `dOut`.
    public static func backwardReference(dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, ids: UnsafePointer<Int32>,
                                         rows: Int, C: Int) {
        var sums: [Int: [Double]] = [:]
        for r in 0..<rows {
            let id = Int(ids[r])
            var s = sums[id] ?? (0..<C).map { Double(dTable[id * C + $0]) }
            for c in 0..<C { s[c] += Double(dOut[r * C + c]) }
            sums[id] = s
        }
        for (id, s) in sums { for c in 0..<C { dTable[id * C + c] = Float(s[c]) } }
    }
}

// MARK: - Tensor-level wrapper

/// Looks up `ids` in a `(V, C)` table; the result is `(ids.count, C)`.
/// - Throws: ``TensorError/shapeMismatch(_:)`` when `table` is not rank 2 or an id is outside
///   `0..<V` (the message names the id, its position and the table shape).
public func embedding(ids: [Int32], table: Tensor) throws -> Tensor {
    guard table.rank == 2 else {
        throw TensorError.shapeMismatch("embedding: table must be (V, C), got \(table.shape)")
    }
    let V = table.shape[0], C = table.shape[1]
    if let i = ids.firstIndex(where: { $0 < 0 || Int($0) >= V }) {
        throw TensorError.shapeMismatch(
            "embedding: id \(ids[i]) at position \(i) is outside the table \(table.shape) (valid ids 0..<\(V)); check the tokenizer matches the model's vocabulary")
    }
    let out = Tensor(zeros: [ids.count, C])
    ids.withUnsafeBufferPointer { p in
        if let base = p.baseAddress { Embedding.forward(out: out.pointer, ids: base, table: table.pointer, rows: ids.count, C: C) }
    }
    return out
}
