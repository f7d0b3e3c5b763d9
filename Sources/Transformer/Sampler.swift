import CKernels
import Foundation
import Tensor

/// How tokens are chosen from logits; shared by plain and speculative decoding so both models
/// see the same filtering.
public struct SamplingSettings: Codable, Equatable, Sendable {
    /// 0 means greedy (argmax, lowest index wins ties).
    public var temperature: Float = 1
    /// Keep only the k most probable tokens (0 = off).
    public var topK: Int = 0
    /// Keep the smallest set of most probable tokens whose probability reaches p (1 = off).
    public var topP: Float = 1
    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
    }
    public var isGreedy: Bool { temperature <= 0 }
    public static let greedy = SamplingSettings(temperature: 0)
}

/// Turns logits into the sampling distribution and draws from it, without allocating per call.
///
/// Distribution: `softmax(logits / T)` (``Softmax/temperedRow(out:input:n:temperature:)``), then top-k (the k largest probabilities; ties at the
/// boundary broken toward the lower index), then top-p (the shortest prefix of the remaining tokens
/// in descending probability, lower index first on ties, whose mass reaches p), renormalised.
/// Temperature 0 gives the one-hot distribution of the argmax.
public final class Sampler {
    public var settings: SamplingSettings
    public let vocabularySize: Int
    private var order: [Int32]
    private var kept: [Float]

    public init(settings: SamplingSettings, vocabularySize: Int) {
        self.settings = settings
        self.vocabularySize = vocabularySize
        order = [Int32](repeating: 0, count: vocabularySize)
        kept = [Float](repeating: 0, count: vocabularySize)
    }

    /// Index of the largest logit; the lowest index wins ties and NaN never wins (`sd_argmax`:
    /// vectorised, equal to the scalar loop `if x[i] > best` from best = x[0]).
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        count <= 1 ? 0 : sd_argmax(x, count)
    }

    /// Writes the filtered, normalised distribution of `logits` into `probs` (both length V).
    public func distribution(_ logits: UnsafePointer<Float>, into probs: UnsafeMutablePointer<Float>) {
        let V = vocabularySize, s = settings
        if s.isGreedy {
            probs.update(repeating: 0, count: V)
            probs[Sampler.argmax(logits, count: V)] = 1
            return
        }
        Softmax.temperedRow(out: probs, input: logits, n: V, temperature: s.temperature)
        let useK = s.topK > 0 && s.topK < V, useP = s.topP < 1
        if !useK && !useP { return }
        // Order candidate indices by descending probability, lower index first on ties.
        order.withUnsafeMutableBufferPointer { ordBuffer in
            kept.withUnsafeMutableBufferPointer { keptBuffer in
                let ord = ordBuffer.baseAddress!, tmp = keptBuffer.baseAddress!
                @inline(__always) func better(_ a: Int32, _ b: Int32) -> Bool {
                    let pa = probs[Int(a)], pb = probs[Int(b)]
                    return pa > pb || (pa == pb && a < b)
                }
                var keep = V
                if useK {
                    // A heap of the k best seen so far whose root is the worst of them: O(V log k).
                    keep = s.topK
                    for i in 0..<keep { ord[i] = Int32(i) }
                    func siftDown(_ start: Int) {
                        var i = start
                        while true {
                            let l = 2 * i + 1, r = l + 1
                            var worst = i
                            if l < keep && better(ord[worst], ord[l]) { worst = l }
                            if r < keep && better(ord[worst], ord[r]) { worst = r }
                            if worst == i { return }
                            let t = ord[i]; ord[i] = ord[worst]; ord[worst] = t
                            i = worst
                        }
                    }
                    for i in stride(from: keep / 2 - 1, through: 0, by: -1) { siftDown(i) }
                    for i in keep..<V where better(Int32(i), ord[0]) { ord[0] = Int32(i); siftDown(0) }
                } else {
                    for i in 0..<V { ord[i] = Int32(i) }
                }
                var head = UnsafeMutableBufferPointer(start: ord, count: keep)
                head.sort(by: better)
                var cut = keep
                if useP {
                    var kept = 0.0
                    for j in 0..<keep { kept += Double(probs[Int(ord[j])]) }
                    var mass = 0.0
                    for j in 0..<keep {
                        mass += Double(probs[Int(ord[j])]) / kept
                        if mass >= Double(s.topP) { cut = j + 1; break }
                    }
                }
                var z = 0.0
                for j in 0..<cut { tmp[j] = probs[Int(ord[j])]; z += Double(tmp[j]) }
                probs.update(repeating: 0, count: V)
                let invZ = Float(1 / z)
                for j in 0..<cut { probs[Int(ord[j])] = tmp[j] * invZ }
            }
        }
    }

    /// Draws a token: the argmax when greedy, else from ``distribution(_:into:)``.
    public func sample(_ logits: UnsafePointer<Float>, scratch probs: UnsafeMutablePointer<Float>,
                       rng: inout RandomGenerator) -> Int {
        if settings.isGreedy { return Sampler.argmax(logits, count: vocabularySize) }
        distribution(logits, into: probs)
        return rng.categorical(UnsafePointer(probs), count: vocabularySize)
    }

    /// ``sample(_:scratch:rng:)`` that throws instead of trapping on logits that are not finite
    /// (NaN or ±Inf, from corrupt weights): a clear error naming the first bad index.
    /// - Throws: ``TensorError/invalidDistribution(_:)``.
    public func checkedSample(_ logits: UnsafePointer<Float>, scratch probs: UnsafeMutablePointer<Float>,
                              rng: inout RandomGenerator) throws -> Int {
        for i in 0..<vocabularySize where !logits[i].isFinite {
            throw TensorError.invalidDistribution("logit \(i) of \(vocabularySize) is \(logits[i]); the model produced a non-finite logit (corrupt weights or an overflow)")
        }
        if settings.isGreedy { return Sampler.argmax(logits, count: vocabularySize) }
        distribution(logits, into: probs)
        return try rng.checkedCategorical(UnsafePointer(probs), count: vocabularySize)
    }
}
