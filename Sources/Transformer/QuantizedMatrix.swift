import CKernels
import Formats
import Tensor

/// A linear layer's weight matrix (N, K) whose rows stay in their ggml block type, applied as
/// `out (M, N) (+)= input (M, K) · Wᵀ` by the quantised row kernels (``sd_quant_rows_times_wt_q``).
///
/// The rows are one or more **segments** concatenated along N, each of one type with its own row
/// stride in bytes: the runtime fuses q, k, v (and gate, up) into one matrix, and in Q4_K_M files
/// `attn_v` may be Q6_K while `attn_q` is Q4_K. A segment points into the memory-mapped GGUF file
/// or into an owned buffer (the llama Q/K rows copied in the runtime's RoPE order); `owner` keeps
/// that memory alive.
///
/// **Math and invariance.** Each input row is quantised on its own to int8 blocks (32 values for
/// the legacy types, 256 for K-quants; |a − d·q| ≤ max|a_block| / 254), each output is a sum of
/// block products in ascending block order with one accumulator per row, so a row's result is
/// bitwise the same whatever M (batch invariance) and whatever split of N over threads.
public struct QuantizedMatrix: @unchecked Sendable {
    public struct Segment: @unchecked Sendable {
        public var type: GGMLType
        public var rows: Int
        /// Row 0 of the segment; row r starts `r · rowBytes` bytes later.
        public var base: UnsafeRawPointer
        public var rowBytes: Int
    }

    public let segments: [Segment]
    /// K: elements per row.
    public let cols: Int
    /// Keeps the memory of the segments alive (a GGUFFile or an ``OwnedBytes``).
    let owners: [AnyObject]

    /// N: rows over all segments.
    public var rows: Int { segments.reduce(0) { $0 + $1.rows } }

    public init(segments: [Segment], cols: Int, owners: [AnyObject]) {
        self.segments = segments; self.cols = cols; self.owners = owners
    }

    /// Whether the row kernels handle `type` for rows of `cols` elements.
    public static func supports(_ type: GGMLType, cols: Int) -> Bool {
        sd_quant_supported(Int32(type.rawValue), Int32(cols)) != 0
    }

    /// The segment holding row `r` and the address of the row.
    public func row(_ r: Int) -> (type: GGMLType, pointer: UnsafeRawPointer) {
        var r = r
        for s in segments {
            if r < s.rows { return (s.type, s.base + r * s.rowBytes) }
            r -= s.rows
        }
        preconditionFailure("QuantizedMatrix.row: \(r) past the last row")
    }

    /// Row `r` dequantised to float32 into `into[0..<cols]` (the embedding lookup).
    public func dequantizeRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        let (t, p) = row(r)
        t.dequantize(p, into: dst, count: cols)
    }

    /// A new matrix of the rows `ids` (in that order) copied into one owned buffer per run of
    /// equal types: e.g. a trimmed output head. Each row's bytes are unchanged, so each kept
    /// output is bitwise the same as in the full matrix.
    public func gathering(rows ids: [Int]) -> QuantizedMatrix {
        var segs: [Segment] = [], owners: [AnyObject] = []
        var i = 0
        while i < ids.count {
            let t = row(ids[i]).type
            var j = i
            while j < ids.count && row(ids[j]).type == t { j += 1 }
            let rb = cols / t.blockSize * t.blockBytes
            let buf = OwnedBytes(count: (j - i) * rb)
            for (o, id) in ids[i..<j].enumerated() { (buf.pointer + o * rb).copyMemory(from: row(id).pointer, byteCount: rb) }
            segs.append(Segment(type: t, rows: j - i, base: UnsafeRawPointer(buf.pointer), rowBytes: rb))
            owners.append(buf)
            i = j
        }
        return QuantizedMatrix(segments: segs, cols: cols, owners: owners)
    }

    /// `out (m, N) (+)= input (m, K) · Wᵀ`, split over N across ``Threads/count`` threads.
    /// - Parameters:
    ///   - scratch: reused between calls for the quantised activations (grown when needed).
    public func apply(m: Int, input: UnsafePointer<Float>, lda: Int, out: UnsafeMutablePointer<Float>, ldc: Int,
                      accumulate: Bool, scratch: inout [UInt8]) {
        let K = cols, isa = sd_quant_isa()
        // The activation format depends only on the block family (32 or 256), so segments of the
        // same family share one quantisation.
        var quantisedFor = -1
        var row0 = 0
        for s in segments {
            let t = Int32(s.type.rawValue), family = s.type.blockSize
            let rowBytes = sd_quant_act_row_bytes(t, Int32(K))
            if scratch.count < m * rowBytes { scratch = [UInt8](repeating: 0, count: m * rowBytes) }
            scratch.withUnsafeMutableBytes { qa in
                if family != quantisedFor { sd_quant_act(t, Int32(m), Int32(K), input, Int32(lda), qa.baseAddress!) }
                let qp = UnsafeRawPointer(qa.baseAddress!), c = out + row0, base = s.base, rb = s.rowBytes
                // As Matmul.smallRows: a chunk is worth a thread from ~32K multiply-adds.
                parallelFor(s.rows, minChunk: max(16, 32_768 / max(1, m * K))) { r in
                    sd_quant_rows_times_wt_q(isa, t, Int32(m), Int32(r.count), Int32(K), qp, base + r.lowerBound * rb, rb,
                                             c + r.lowerBound, Int32(ldc), accumulate ? 1 : 0)
                }
            }
            quantisedFor = family
            row0 += s.rows
        }
    }

    /// Bytes of weights one product reads (for bandwidth estimates).
    public var byteCount: Int { segments.reduce(0) { $0 + $1.rows * $1.rowBytes } }
}

/// An owned, 64-byte aligned byte buffer (freed with the object).
public final class OwnedBytes: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int
    public init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }
}
