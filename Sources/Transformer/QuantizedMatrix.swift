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
/// the legacy types, 256 for K-quants; |a − d·q| ≤ max|a_block| / 254); F16 and BF16 rows multiply
/// the float32 input as it is (weights converted exactly, only float32 rounding). Each output is a
/// sum of block products in ascending block order with per-row accumulators, so a row's result is
/// bitwise the same whatever M (batch invariance) and whatever split of N over threads
/// (`QuantKernels.h` states the exact order per type).
public struct QuantizedMatrix: @unchecked Sendable {
    public struct Segment: @unchecked Sendable {
        public var type: GGMLType
        public var rows: Int
        /// Row 0 of the segment; row r starts `r · rowBytes` bytes later (plain layout), or group
        /// 0 of 8 interleaved rows, group g `g · 8 · rowBytes` bytes later (``interleaved``).
        public var base: UnsafeRawPointer
        /// Bytes of one row in its ggml block layout (the same bytes per row in both layouts).
        public var rowBytes: Int
        /// Rows repacked in interleaved groups of 8 (``sd_x8_pack``; see ``QuantizedMatrix/interleaved(release:)``).
        public var interleaved: Bool

        /// Bytes of one interleaved group of 8 rows (of `cols` elements).
        func groupBytes(cols: Int) -> Int { Int(sd_x8_group_bytes(Int32(type.rawValue), Int32(cols))) }

        public init(type: GGMLType, rows: Int, base: UnsafeRawPointer, rowBytes: Int, interleaved: Bool = false) {
            self.type = type; self.rows = rows; self.base = base; self.rowBytes = rowBytes; self.interleaved = interleaved
        }
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

    /// The segment holding row `r` and the row's index in it.
    func locate(_ r: Int) -> (segment: Segment, row: Int) {
        var r = r
        for s in segments {
            if r < s.rows { return (s, r) }
            r -= s.rows
        }
        preconditionFailure("QuantizedMatrix.locate: \(r) past the last row")
    }

    /// Calls `body` with row `r` in its ggml block layout (unpacked when interleaved).
    public func withRow<R>(_ r: Int, _ body: (GGMLType, UnsafeRawPointer) throws -> R) rethrows -> R {
        let (s, i) = locate(r)
        guard s.interleaved else { return try body(s.type, s.base + i * s.rowBytes) }
        return try withUnsafeTemporaryAllocation(byteCount: s.rowBytes, alignment: 16) { buf in
            sd_x8_unpack_row(Int32(s.type.rawValue), Int32(cols), s.base + (i / 8) * s.groupBytes(cols: cols), Int32(i % 8),
                             buf.baseAddress!)
            return try body(s.type, UnsafeRawPointer(buf.baseAddress!))
        }
    }

    /// Row `r` dequantised to float32 into `into[0..<cols]` (the embedding lookup).
    public func dequantizeRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        withRow(r) { t, p in t.dequantize(p, into: dst, count: cols) }
    }

    /// Source bytes repacked between two calls of ``interleaved(release:)``'s `release`.
    public static let releaseChunkBytes = 8 << 20

    /// The same matrix with every segment that allows it (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K) repacked into
    /// interleaved groups of 8 rows in owned buffers (a last partial group padded with zero
    /// rows). Every output is then computed by ``sd_x8_rows_times_wt_q``: the same value for a
    /// row whichever group or lane holds it, alone or batched, on any number of threads.
    ///
    /// When every segment is repacked, the new matrix owns only its new buffers: the source's
    /// owners (the mapped file, a copy of the rows in RoPE order) are released with the source
    /// matrix instead of living as long as the model.
    /// - Parameter release: called with repacked source ranges (e.g. to drop mapped pages), in
    ///   pieces of about ``releaseChunkBytes`` while a segment is repacked, so that a large matrix
    ///   is never resident twice (peak memory ≈ the file, not file + the largest matrix).
    /// - Throws: ``ModelError/file(_:)`` naming the row and block when a block's f16 scale is NaN
    ///   or ±Inf (checked by the repacking while it copies the scales, at no extra cost; types
    ///   that are not repacked are not checked, to keep loading big files a single pass).
    public func interleaved(release: (UnsafeRawPointer, Int) -> Void = { _, _ in }) throws -> QuantizedMatrix {
        var segs: [Segment] = [], buffers: [AnyObject] = [], firstRow = 0, keptSegment = false
        for s in segments {
            defer { firstRow += s.rows }
            let t = Int32(s.type.rawValue), K = Int32(cols)
            guard !s.interleaved, sd_x8_supported(t, K) != 0 else { segs.append(s); keptSegment = true; continue }
            let G = (s.rows + 7) / 8, gb = Int(sd_x8_group_bytes(t, K)), buf = OwnedBytes(count: G * gb)
            var ok = true
            // Source bytes before `released` were handed to `release`; chunk ends are 64 KB
            // aligned addresses, so consecutive pieces leave no page between them.
            var released = s.base
            for g in 0..<G where ok {
                let src = s.base + g * 8 * s.rowBytes, n = min(8, s.rows - 8 * g)
                var status: Int32
                if n == 8 { status = sd_x8_pack(t, K, src, s.rowBytes, buf.pointer + g * gb) } else {
                    var pad = [UInt8](repeating: 0, count: 8 * s.rowBytes)   // zero rows: d = 0
                    status = pad.withUnsafeMutableBytes { p -> Int32 in
                        p.baseAddress!.copyMemory(from: src, byteCount: n * s.rowBytes)
                        return sd_x8_pack(t, K, p.baseAddress!, s.rowBytes, buf.pointer + g * gb)
                    }
                }
                if status < 0 {
                    let at = Int(-1 - status), row = firstRow + 8 * g + at % 8, block = at / 8
                    throw ModelError.file("row \(row), block \(block) (elements \(block * s.type.blockSize)…\(block * s.type.blockSize + s.type.blockSize - 1)) of a \(s.type) matrix has a NaN or infinite scale; the weights are corrupt (re-download or re-quantise the model)")
                }
                ok = status != 0
                let done = UnsafeRawPointer(bitPattern: Int(bitPattern: src + n * s.rowBytes) & ~0xFFFF)!
                if ok, done - released >= QuantizedMatrix.releaseChunkBytes { release(released, done - released); released = done }
            }
            guard ok else { segs.append(s); keptSegment = true; continue }
            release(released, s.base + s.rows * s.rowBytes - released)
            var p = s
            p.base = UnsafeRawPointer(buf.pointer); p.interleaved = true
            segs.append(p)
            buffers.append(buf)
        }
        return QuantizedMatrix(segments: segs, cols: cols, owners: keptSegment ? owners + buffers : buffers)
    }

    /// A new matrix of the rows `ids` (in that order) copied into one owned buffer per run of
    /// equal types: e.g. a trimmed output head. Each row's bytes are unchanged, so each kept
    /// output is bitwise the same as in the full matrix.
    public func gathering(rows ids: [Int]) -> QuantizedMatrix {
        var segs: [Segment] = [], owners: [AnyObject] = []
        var i = 0
        while i < ids.count {
            let t = locate(ids[i]).segment.type
            var j = i
            while j < ids.count && locate(ids[j]).segment.type == t { j += 1 }
            let rb = cols / t.blockSize * t.blockBytes
            let buf = OwnedBytes(count: (j - i) * rb)
            for (o, id) in ids[i..<j].enumerated() {
                withRow(id) { _, p in (buf.pointer + o * rb).copyMemory(from: p, byteCount: rb) }
            }
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
        // The activation format depends only on the block family (32, 256, or 1: float32 rows for
        // F16 / BF16), so segments of the same family share one quantisation.
        var quantisedFor = -1
        var row0 = 0
        for s in segments {
            let t = Int32(s.type.rawValue), family = s.type.blockSize
            let rowBytes = sd_quant_act_row_bytes(t, Int32(K))
            if scratch.count < m * rowBytes { scratch = [UInt8](repeating: 0, count: m * rowBytes) }
            scratch.withUnsafeMutableBytes { qa in
                if family != quantisedFor { sd_quant_act(t, Int32(m), Int32(K), input, Int32(lda), qa.baseAddress!) }
                let qp = UnsafeRawPointer(qa.baseAddress!), c = out + row0, base = s.base, rb = s.rowBytes
                if s.interleaved { Self.applyInterleaved(s, m: m, K: K, qa: qp, out: c, ldc: ldc, accumulate: accumulate); return }
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

    /// `out (m, rows) (+)= …` for one interleaved segment: whole groups split over threads, a
    /// last partial group through an 8-column scratch.
    static func applyInterleaved(_ s: Segment, m: Int, K: Int, qa: UnsafeRawPointer, out c: UnsafeMutablePointer<Float>,
                                 ldc: Int, accumulate: Bool) {
        let isa = sd_quant_isa(), t = Int32(s.type.rawValue), gb = s.groupBytes(cols: K), full = s.rows / 8, tail = s.rows % 8
        parallelFor(full, minChunk: max(2, 4_096 / max(1, m * K))) { g in
            sd_x8_rows_times_wt_q(isa, t, Int32(m), Int32(g.count), Int32(K), qa, s.base + g.lowerBound * gb,
                                  c + 8 * g.lowerBound, Int32(ldc), accumulate ? 1 : 0)
        }
        guard tail > 0 else { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * m) { tmp in
            sd_x8_rows_times_wt_q(isa, t, Int32(m), 1, Int32(K), qa, s.base + full * gb, tmp.baseAddress!, 8, 0)
            for r in 0..<m { for i in 0..<tail {
                let o = c + r * ldc + 8 * full + i
                o.pointee = accumulate ? o.pointee + tmp[8 * r + i] : tmp[8 * r + i]
            } }
        }
    }

    /// Bytes of weights one product reads (for bandwidth estimates).
    public var byteCount: Int {
        segments.reduce(0) { $0 + ($1.interleaved ? ($1.rows + 7) / 8 * $1.groupBytes(cols: cols) : $1.rows * $1.rowBytes) }
    }
}

/// An owned, 64-byte aligned byte buffer (freed with the object).
///
/// Buffers of at least ``mappedMinimum`` bytes are anonymous mappings of their own
/// (``TensorStorage/init(untouchedZeros:)``), unmapped when freed. From the malloc heap, the
/// repacked matrices of a model and the short-lived row copies made while loading it interleave,
/// and every freed copy leaves a hole that smaller buffers only partly reuse: SmolLM2's 30 layers
/// left ≈ 4 MB of free heap resident.
public final class OwnedBytes: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int
    /// Bytes from which a buffer is its own mapping.
    public static let mappedMinimum = 64 << 10
    /// The mapping of a large buffer (nil: `pointer` came from the heap).
    private let mapping: TensorStorage?

    public init(count: Int) {
        self.count = count
        if count >= OwnedBytes.mappedMinimum {
            let m = TensorStorage(untouchedZeros: (count + 3) / 4)
            mapping = m
            pointer = UnsafeMutableRawPointer(m.base)
        } else {
            mapping = nil
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        }
    }
    deinit { if mapping == nil { pointer.deallocate() } }
}
