import Distill
import Foundation
import SpecDecode

extension HelpHeadFitter.Samples {
    /// Writes the samples as one little-endian binary file through a temporary file and a rename:
    /// magic `SDHS`, version 2, count and width (Int64), the binding (64 ASCII bytes, zero-padded),
    /// then the features (count × width Double), the gains (count Double), the prompt indices
    /// (count Int64) and the agreements (Int64).
    public func write(to url: URL) throws {
        precondition(binding.utf8.count <= 64, "Samples.write: binding longer than 64 bytes")
        var data = Data("SDHS".utf8)
        func put<T>(_ values: [T]) { values.withUnsafeBytes { data.append(contentsOf: $0) } }
        put([Int64(2), Int64(count), Int64(width)])
        data.append(contentsOf: Array(binding.utf8) + [UInt8](repeating: 0, count: 64 - binding.utf8.count))
        put(features); put(gains); put(prompt.map(Int64.init)); put([Int64(agreements)])
        let tmp = url.appendingPathExtension("tmp")
        try data.write(to: tmp)
        _ = try? FileManager.default.removeItem(at: url)
        try FileManager.default.moveItem(at: tmp, to: url)
    }

    /// Reads samples written by ``write(to:)``; throws naming the file and what is wrong, including
    /// samples collected for another binding than `expectedBinding` (when given).
    public static func read(from url: URL, expectedBinding: String? = nil) throws -> HelpHeadFitter.Samples {
        let data = try Data(contentsOf: url)
        func fail(_ why: String) -> Error { SpecDecodeError.invalidSettings("\(url.path): \(why); delete it to collect again") }
        guard data.count >= 28, data.prefix(4) == Data("SDHS".utf8) else { throw fail("not a help-head samples file") }
        return try data.withUnsafeBytes { raw -> HelpHeadFitter.Samples in
            var offset = 4
            func take<T>(_ n: Int, _: T.Type) throws -> [T] {
                let bytes = n * MemoryLayout<T>.stride
                guard n >= 0, offset + bytes <= raw.count else { throw fail("truncated at byte \(offset)") }
                let out = (0..<n).map { raw.loadUnaligned(fromByteOffset: offset + $0 * MemoryLayout<T>.stride, as: T.self) }
                offset += bytes
                return out
            }
            let head = try take(3, Int64.self)
            if head[0] == 1 { throw fail("written by an earlier version, without a record of its models and prompts") }
            guard head[0] == 2 else { throw fail("version \(head[0]), expected 2") }
            let binding = String(decoding: try take(64, UInt8.self).prefix { $0 != 0 }, as: UTF8.self)
            if let expectedBinding, binding != expectedBinding {
                throw fail("collected from other models, prompts or --max-tokens (binding \(binding.prefix(12))…, this run \(expectedBinding.prefix(12))…)")
            }
            let n = Int(head[1]), w = Int(head[2])
            guard n >= 0, w > 0, n <= raw.count / 8 else { throw fail("impossible sizes \(n) × \(w)") }
            var s = HelpHeadFitter.Samples(width: w)
            s.binding = binding
            s.features = try take(n * w, Double.self)
            s.gains = try take(n, Double.self)
            s.prompt = try take(n, Int64.self).map(Int.init)
            s.agreements = Int(try take(1, Int64.self)[0])
            guard offset == raw.count else { throw fail("\(raw.count - offset) bytes past the end") }
            return s
        }
    }

    /// The same positions with the 5 position features of ``HelpHead/positionFeatures(position:horizon:statistics:into:)``
    /// appended (horizon N; the last four columns must be the logit statistics).
    public func withPositionFeatures(horizon N: Int) -> HelpHeadFitter.Samples {
        let P = HelpHead.positionFeatureCount, L = HelpHead.logitFeatureCount
        precondition(width >= L && N > 0, "withPositionFeatures: samples of width \(width), horizon \(N)")
        var s = HelpHeadFitter.Samples(width: width + P)
        s.features = [Double](repeating: 0, count: count * s.width)
        let t = positions
        features.withUnsafeBufferPointer { src in
            s.features.withUnsafeMutableBufferPointer { dst in
                for r in 0..<count {
                    let from = src.baseAddress! + r * width, to = dst.baseAddress! + r * s.width
                    to.update(from: from, count: width)
                    HelpHead.positionFeatures(position: t[r], horizon: N, statistics: from + width - L, into: to + width)
                }
            }
        }
        s.gains = gains; s.prompt = prompt; s.agreements = agreements; s.binding = binding
        return s
    }

    /// The same positions with only the four logit statistics (dropping `hiddenSize` leading columns).
    public func logitStatisticsOnly(hiddenSize C: Int) -> HelpHeadFitter.Samples {
        precondition(width == C + HelpHead.logitFeatureCount, "samples of width \(width) do not hold \(C) hidden features")
        var s = HelpHeadFitter.Samples(width: HelpHead.logitFeatureCount)
        s.features.reserveCapacity(count * s.width)
        for r in 0..<count { s.features += features[(r * width + C)..<((r + 1) * width)] }
        s.gains = gains; s.prompt = prompt; s.agreements = agreements; s.binding = binding
        return s
    }
}

extension HelpHeadFitter {
    /// The binding of a samples file: SHA-256 (hex) of the student's and the teacher's files
    /// (their SHA-256), the encoded prompts and the tokens decoded per prompt.
    /// - Throws: when a model file cannot be read.
    public static func binding(student: URL, teacher: URL, prompts: [[Int]], maxTokens: Int) throws -> String {
        var text = "student \(try SHA256.hex(fileAt: student))\nteacher \(try SHA256.hex(fileAt: teacher))\nmax_tokens \(maxTokens)\n"
        for p in prompts { text += p.map(String.init).joined(separator: " ") + "\n" }
        return SHA256.hex(Data(text.utf8))
    }
}

extension HelpHeadFitter {
    /// Offline check of a ranking on held-out positions: the share of the total one-step gain
    /// collected by asking at the fraction `fraction` of positions with the highest `scores`
    /// (ties broken by position), against the oracle that asks at the largest gains.
    /// - Returns: (captured share, oracle share).
    public static func capturedGain(scores: [Double], gains: [Double], fraction: Double) -> (captured: Double, oracle: Double) {
        precondition(scores.count == gains.count && !gains.isEmpty, "capturedGain: \(scores.count) scores for \(gains.count) gains")
        let total = gains.reduce(0, +), k = Int((fraction * Double(gains.count)).rounded())
        guard total > 0, k > 0 else { return (0, 0) }
        let byScore = gains.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        let captured = byScore.prefix(k).reduce(0.0) { $0 + gains[$1] }
        let oracle = gains.sorted(by: >).prefix(k).reduce(0, +)
        return (captured / total, oracle / total)
    }
}
