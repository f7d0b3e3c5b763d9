import CKernels
import Formats
import Foundation
import Tensor
import Transformer

/// `specdistill bench quant`: the interleaved quantised kernels (``sd_x8_rows_times_wt_q``) on one
/// matrix, for every instruction-set path this CPU has and several activation-row counts M: what
/// verifying M − 1 drafted tokens costs in the matrix products, as a ratio to one row on the best
/// path (same process, same matrix, interleaved repetitions). One thread, so the ratios are the
/// kernels' own; the weights (a few MB) stay in cache, which is the compute-bound case where
/// extra rows cost the most.
public enum QuantKernelBenchmark {
    public struct Row: Codable, Sendable {
        public var type: String
        public var isa: Int
        public var rows: Int
        /// Minimum seconds of one call over the repetitions.
        public var seconds: Double
    }

    /// Paths by their `sd_quant_isa` level: 0 portable, 1 AVX2, 2 AVX-512 VNNI (512-bit pairs of
    /// groups for the legacy types from 2 rows where ``sd_x8_pairs_preferred()``), 3 the same plus
    /// AMX tiles above 8 rows; with `SD_X8_PAIRS_ON` / `SD_X8_PAIRS_OFF` or'ed in, the pairs forced;
    /// with `SD_X8_AVXVNNI_ON` / `SD_X8_AVXVNNI_OFF`, AVX2's AVX-VNNI kernels forced.
    public static func pathName(_ isa: Int) -> String {
        let level = isa & 15
        let name = ["portable", "AVX2", "AVX-512 VNNI", "AMX (> 8 rows)"][min(max(level, 0), 3)]
        if isa & Int(SD_X8_AVXVNNI_ON) != 0 { return name + " + AVX-VNNI" }
        if isa & Int(SD_X8_AVXVNNI_OFF) != 0 { return name + " (no VNNI)" }
        return isa & Int(SD_X8_PAIRS_ON) != 0 ? name + " pairs" : isa & Int(SD_X8_PAIRS_OFF) != 0 ? name + " 256" : name
    }

    /// Random blocks of `type` with finite scales: N rows of K elements.
    static func randomBlocks(_ type: GGMLType, rows: Int, cols: Int, rng: inout RandomGenerator) -> [UInt8] {
        let bb = type.blockBytes, nb = cols / type.blockSize
        var out = [UInt8](repeating: 0, count: rows * nb * bb)
        for i in out.indices { out[i] = UInt8(truncatingIfNeeded: rng.next()) }
        func put(_ v: Float, _ at: Int) {
            let h = Float16(v).bitPattern
            out[at] = UInt8(h & 0xFF); out[at + 1] = UInt8(h >> 8)
        }
        for b in 0..<(rows * nb) {
            let p = b * bb, d = 0.002 + 0.018 * rng.uniform()
            switch type {
            case .q6_K: put(d, p + 208)
            case .q4_1, .q5_1, .q4_K: put(d, p); put(0.01 * d, p + 2)
            default: put(d, p)
            }
        }
        return out
    }

    /// Times `sd_x8_rows_times_wt_q` for every (type, path, M), N × K weights.
    public static func run(types: [GGMLType], rowCounts: [Int], N: Int, K: Int, repetitions: Int) throws -> [Row] {
        var rng = RandomGenerator(seed: 7)
        let maxM = rowCounts.max() ?? 1
        let a = (0..<(maxM * K)).map { _ in rng.normal() }
        var results: [Row] = []
        for t in types {
            let tc = Int32(t.rawValue)
            guard sd_x8_supported(tc, Int32(K)) != 0 else { continue }
            let bytes = randomBlocks(t, rows: N, cols: K, rng: &rng)
            let owned = OwnedBytes(count: bytes.count)
            bytes.withUnsafeBytes { owned.pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            let plain = QuantizedMatrix(segments: [.init(type: t, rows: N, base: UnsafeRawPointer(owned.pointer), rowBytes: bytes.count / N)],
                                        cols: K, owners: [owned])
            let x8 = try plain.interleaved()
            let base = x8.segments[0].base
            let rb = sd_quant_act_row_bytes(tc, Int32(K))
            var qa = [UInt8](repeating: 0, count: maxM * rb)
            a.withUnsafeBufferPointer { ap in qa.withUnsafeMutableBytes { sd_quant_act(tc, Int32(maxM), Int32(K), ap.baseAddress!, Int32(K), $0.baseAddress!) } }
            var c = [Float](repeating: 0, count: maxM * N)
            // AMX serves the legacy types except Q5_0 / Q5_1; the others run their VNNI kernel at that level.
            // At AVX-512 VNNI the legacy types with the 512-bit pairs forced on and off.
            let top = Int(sd_quant_isa())
            // At AVX2 on a CPU with AVX-VNNI, both kernels (forced).
            let avx2 = sd_x8_avx_vnni_preferred() != 0 ? [1 | Int(SD_X8_AVXVNNI_OFF), 1 | Int(SD_X8_AVXVNNI_ON)] : [1]
            let pairs = t.blockSize == 32 && t != .q5_0 && t != .q5_1   // Q5_0 / Q5_1: 256-bit passes only
            let paths = avx2 + (top >= 2 && pairs ? [2 | Int(SD_X8_PAIRS_OFF), 2 | Int(SD_X8_PAIRS_ON)] + (top >= 3 ? [3] : [])
                                                               : top >= 2 ? [2] : [])
            var best = [[Double]](repeating: [Double](repeating: .infinity, count: rowCounts.count), count: paths.count)
            withExtendedLifetime(x8) { qa.withUnsafeBytes { q in c.withUnsafeMutableBufferPointer { cp in
                for _ in 0...repetitions {   // interleaved: every (path, M) sees the same machine state
                    for (pi, isa) in paths.enumerated() { for (mi, m) in rowCounts.enumerated() {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        sd_x8_rows_times_wt_q(Int32(isa), tc, Int32(m), Int32(N / 8), Int32(K), q.baseAddress!, base, cp.baseAddress!, Int32(N), 0)
                        best[pi][mi] = min(best[pi][mi], Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
                    } }
                }
            } } }   // x8 owns the interleaved weights: alive until the last product
            for (pi, isa) in paths.enumerated() { for (mi, m) in rowCounts.enumerated() {
                results.append(Row(type: t.description, isa: isa, rows: m, seconds: best[pi][mi]))
            } }
        }
        return results
    }
}
