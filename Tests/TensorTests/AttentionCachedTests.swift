import CKernels
import Foundation
import Tensor
import TestSupport
import XCTest

/// Cached against training forward: both compute the same causal softmax, but with different
/// float32 summation orders (sgemv / small-M kernel / sgemm over different row counts), so they
/// agree to rounding, not bitwise: outputs are convex combinations of unit-scale values and sums
/// run over ≤ 65 terms, errors ≲ 65 · 6e-8 · 4 ≈ 2e-5 worst case, ~1e-6 typical. A wrong mask
/// position or head mapping changes outputs by O(0.1).
private let cachedRtol = 1e-4, cachedAtol = 2e-5

final class AttentionCachedTests: XCTestCase {
    /// Copies the k and v columns of a fused `(T, W)` buffer into contiguous `(T, NKV·HS)` caches.
    func caches(_ qkv: Tensor, _ c: AttentionCase) -> (Tensor, Tensor) {
        let kv = c.NKV * c.HS
        let k = Tensor(zeros: [c.T, kv]), v = Tensor(zeros: [c.T, kv])
        for t in 0..<c.T {
            for d in 0..<kv {
                k[t, d] = qkv[t, c.NH * c.HS + d]
                v[t, d] = qkv[t, c.NH * c.HS + kv + d]
            }
        }
        return (k, v)
    }

    /// Appending positions in chunks of `n` gives the rows of the training forward.
    func checkChunks(_ c: AttentionCase, chunk n: Int, rng: inout RandomGenerator,
                     file: StaticString = #filePath, line: UInt = #line) {
        let qkv = rng.normalTensor(c.qkvShape)
        let train = Tensor(zeros: c.outShape), probs = Tensor(zeros: c.probsShape)
        c.forward(qkv, out: train, probs: probs)
        let (kCache, vCache) = caches(qkv, c)
        let cached = Tensor(zeros: c.outShape), reference = Tensor(zeros: c.outShape)
        let C = c.NH * c.HS
        var past = 0
        while past < c.T {
            let m = min(n, c.T - past)
            let count = Attention.scratchCount(n: m, past: past, NH: c.NH)
            let scratch = Tensor(shape: [count + 1], repeating: .nan)
            scratch[count] = 12345  // sentinel: the kernel must stay inside scratchCount floats
            Attention.forwardCached(out: cached.pointer + past * C, q: qkv.pointer + past * c.width, qStride: c.width,
                                    kCache: kCache.pointer, vCache: vCache.pointer, cacheStride: c.NKV * c.HS,
                                    past: past, n: m, NH: c.NH, NKV: c.NKV, HS: c.HS, scale: c.scale,
                                    scratch: scratch.pointer)
            XCTAssertEqual(scratch[count], 12345, "scratch overrun at past \(past), n \(m)", file: file, line: line)
            Attention.forwardCachedReference(out: reference.pointer + past * C, q: qkv.pointer + past * c.width,
                                             qStride: c.width, kCache: kCache.pointer, vCache: vCache.pointer,
                                             cacheStride: c.NKV * c.HS, past: past, n: m, NH: c.NH, NKV: c.NKV,
                                             HS: c.HS, scale: c.scale)
            past += m
        }
        assertClose(cached, train, rtol: cachedRtol, atol: cachedAtol, "cached vs training, chunk \(n), \(c)",
                    file: file, line: line)
        assertClose(cached, reference, rtol: cachedRtol, atol: cachedAtol, "cached vs reference, chunk \(n), \(c)",
                    file: file, line: line)
    }

    func testOneAtATimeAndInChunksMatchTrainingForward() {
        var rng = RandomGenerator(seed: 31)
        let shapes = [AttentionCase(B: 1, T: 1, NH: 1, NKV: 1, HS: 1, pad: 0),
                      AttentionCase(B: 1, T: 17, NH: 6, NKV: 3, HS: 8, pad: 1),
                      AttentionCase(B: 1, T: 23, NH: 9, NKV: 3, HS: 64, pad: 0),  // SmolLM2 heads
                      AttentionCase(B: 1, T: 65, NH: 2, NKV: 1, HS: 3, pad: 0),
                      AttentionCase(B: 1, T: 20, NH: 4, NKV: 4, HS: 5, pad: 2),
                      AttentionCase(B: 1, T: 37, NH: 4, NKV: 2, HS: 16, pad: 3),
                      AttentionCase(B: 1, T: 19, NH: 2, NKV: 1, HS: 48, pad: 0),
                      AttentionCase(B: 1, T: 21, NH: 4, NKV: 2, HS: 128, pad: 1)]  // Qwen2.5 1.5B heads
        defer { Attention.usesRowKernel = true }
        for rowKernel in [true, false] {   // the one-pass row kernel (where the CPU has it) and the general path
            Attention.usesRowKernel = rowKernel
            for c in shapes {
                for n in [1, 2, 3, 5, 9, 40] { checkChunks(c, chunk: n, rng: &rng) }
            }
        }
    }

    /// The one-pass row kernel (``sd_attn_row``) on every path this CPU has (AVX2, AVX-512) against
    /// the Double reference for every length of the last block of keys, strided caches, and peaked
    /// softmaxes (scale 1.5: scores with standard deviations of 3–17, most weights tiny or exactly
    /// 0); and ``sd_attn_row2`` (two queries, equal or unequal lengths) on every path it has bitwise
    /// against two single calls of that path. Skipped without AVX2 (or with SPECDISTILL_ISA=portable); under CI=true a failure
    /// where an AVX2 or AVX-512 path is in use but the kernel is not.
    func testRowKernelAtEveryTailLength() throws {
        let top = Int(sd_rows_times_wt_isa())
        guard top >= 1 else { throw XCTSkip("sd_attn_row needs AVX2") }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTAssertEqual(sd_attn_row_available(64), 1, "sd_attn_row is unavailable although the AVX2 / AVX-512 row kernels are in use")
        }
        var rng = RandomGenerator(seed: 34)
        for isa in 1...top {
            for HS in [8, 16, 24, 48, 64, 128] {
                let ld = HS + 7, T = 300
                let k = rng.normalTensor([T, ld]), v = rng.normalTensor([T, ld]), q = rng.normalTensor([HS])
                for visible in Array(1...40) + [255, 256, 257, 300] {
                    for scale: Float in [0.125, 1.5] {
                        let out = Tensor(zeros: [HS]), ref = Tensor(zeros: [HS])
                        let s = Tensor(shape: [visible + 1], repeating: .nan)
                        s[visible] = 12345
                        XCTAssertEqual(sd_attn_row_with(Int32(isa), Int32(HS), q.pointer, k.pointer, v.pointer, Int32(ld),
                                                        Int32(visible), scale, s.pointer, out.pointer), 1)
                        XCTAssertEqual(s[visible], 12345, "isa \(isa) HS \(HS) visible \(visible): scratch overrun")
                        Attention.forwardCachedReference(out: ref.pointer, q: q.pointer, qStride: HS, kCache: k.pointer,
                                                         vCache: v.pointer, cacheStride: ld, past: visible - 1, n: 1, NH: 1,
                                                         NKV: 1, HS: HS, scale: scale)
                        assertClose(out, ref, rtol: cachedRtol, atol: cachedAtol, "isa \(isa) HS \(HS) visible \(visible) scale \(scale)")
                        // Two queries at once (the second seeing 0, 1 or 5 more keys): bitwise two single calls.
                        guard sd_attn_row2_available_with(Int32(isa), Int32(HS)) != 0 else { continue }
                        let q2 = rng.normalTensor([HS])
                        for extra in [0, 1, 5] where visible + extra <= T {
                            let vb = visible + extra
                            let outA = Tensor(zeros: [HS]), outB = Tensor(zeros: [HS]), oneB = Tensor(zeros: [HS])
                            let sa = Tensor(zeros: [visible]), sb = Tensor(zeros: [vb])
                            XCTAssertEqual(sd_attn_row2_with(Int32(isa), Int32(HS), q.pointer, q2.pointer, k.pointer, v.pointer, Int32(ld),
                                                             Int32(visible), Int32(vb), scale, sa.pointer, sb.pointer, outA.pointer, outB.pointer), 1)
                            _ = sd_attn_row_with(Int32(isa), Int32(HS), q2.pointer, k.pointer, v.pointer, Int32(ld), Int32(vb), scale,
                                                 sb.pointer, oneB.pointer)
                            XCTAssertEqual(outA.array.map(\.bitPattern), out.array.map(\.bitPattern), "isa \(isa) HS \(HS) visible \(visible)+\(extra): first of two")
                            XCTAssertEqual(outB.array.map(\.bitPattern), oneB.array.map(\.bitPattern), "isa \(isa) HS \(HS) visible \(visible)+\(extra): second of two")
                        }
                    }
                }
            }
        }
    }

    /// The caches may be views into the fused buffer itself (row stride W, KV heads at offsets).
    func testCacheAsStridedViewOfFusedBuffer() {
        var rng = RandomGenerator(seed: 32)
        let c = AttentionCase(B: 1, T: 12, NH: 6, NKV: 2, HS: 4, pad: 3)
        let qkv = rng.normalTensor(c.qkvShape)
        let train = Tensor(zeros: c.outShape), probs = Tensor(zeros: c.probsShape)
        c.forward(qkv, out: train, probs: probs)
        let out = Tensor(zeros: [3, c.NH * c.HS])
        let scratch = Tensor(zeros: [Attention.scratchCount(n: 3, past: 9, NH: c.NH)])
        let p = qkv.pointer
        Attention.forwardCached(out: out.pointer, q: p + 9 * c.width, qStride: c.width, kCache: p + c.NH * c.HS,
                                vCache: p + (c.NH + c.NKV) * c.HS, cacheStride: c.width, past: 9, n: 3,
                                NH: c.NH, NKV: c.NKV, HS: c.HS, scale: c.scale, scratch: scratch.pointer)
        assertClose(out, train.rows(9..<12), rtol: cachedRtol, atol: cachedAtol)
    }

    /// The softmax is the kernel's own (serial) loop and the score products run on the project's
    /// small-M kernel (one worker per output element); the value products are OpenBLAS sgemv /
    /// sgemm, whose bits do not depend on the thread count for these shapes in OpenBLAS 0.3.21
    /// (a one-row score sgemv, y = K·q, did not: hence the balanced query chunks).
    func testSameBitsForOneAndTwoThreads() {
        var rng = RandomGenerator(seed: 33)
        let c = AttentionCase(B: 1, T: 300, NH: 9, NKV: 3, HS: 64, pad: 0)
        let qkv = rng.normalTensor(c.qkvShape)
        let (k, v) = caches(qkv, c)
        let saved = Threads.count
        defer { Threads.count = saved; Attention.usesRowKernel = true }
        for rowKernel in [true, false] {
        Attention.usesRowKernel = rowKernel
        var results: [[Float]] = []
        for threads in [1, 2] {
            Threads.count = threads
            var all: [Float] = []
            for n in [1, 4, 9] {
                let past = c.T - n
                let out = Tensor(zeros: [n, c.NH * c.HS])
                let scratch = Tensor(zeros: [Attention.scratchCount(n: n, past: past, NH: c.NH)])
                Attention.forwardCached(out: out.pointer, q: qkv.pointer + past * c.width, qStride: c.width,
                                        kCache: k.pointer, vCache: v.pointer, cacheStride: c.NKV * c.HS, past: past,
                                        n: n, NH: c.NH, NKV: c.NKV, HS: c.HS, scale: c.scale, scratch: scratch.pointer)
                all += out.array
            }
            results.append(all)
        }
        let first = results[0].indices.first { results[0][$0] != results[1][$0] }
        XCTAssertNil(first, "row kernel \(rowKernel): 1 and 2 threads differ first at element \(first ?? -1) of \(results[0].count)")
        }
    }
}
