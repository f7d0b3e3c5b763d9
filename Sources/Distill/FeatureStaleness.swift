import Foundation
import Formats
import Tensor
import Transformer

/// How training batches feed a draft that reads the target's hidden states (``FeatureInput``).
///
/// At decode time the draft reads the first token of a round with the target's state one position
/// back (d = 1), the next drafted token with d = 2, and so on (``FeatureDraftModel``); the k-th
/// drafted token matters only when the k − 1 before it were accepted. Training therefore draws,
/// independently for every position t of a batch, a staleness `d ∈ 1…D` with
/// `p(d) ∝ ρ^{d−1}` (ρ = ``decay`` = 0.6, about the acceptance rate of a good draft), and feeds
/// the teacher's state at s = t − d — available where s is a supervised position of the same
/// sequence, the positions a teacher cache stores and the target computes logits for while
/// decoding (the last prompt token and every generated one). Elsewhere the position gets no
/// feature (d = 0), as prompt positions the target only prefilled get none while decoding.
///
/// The draws come from a generator seeded by (run seed, step, micro-batch), apart from the
/// trainer's data stream, so runs without features are unchanged and a resumed run redraws the
/// same values.
public enum FeatureStaleness {
    public static let decay = 0.6

    /// p(1…D), normalised.
    public static func probabilities(D: Int) -> [Double] {
        let w = (0..<D).map { pow(decay, Double($0)) }, z = w.reduce(0, +)
        return w.map { $0 / z }
    }

    /// The generator of micro-batch `microBatch` of step `step`.
    public static func generator(seed: UInt64, step: Int, microBatch: Int) -> RandomGenerator {
        RandomGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step) &* 1_000_003 &+ UInt64(microBatch) &+ 0x5EED)
    }

    /// Fills `features.input` and `features.staleness` for a (B, T) batch whose supervised rows
    /// (`targets[r] ≥ 0`) carry the teacher's states `states` (B·T, Cf).
    public static func fill(_ features: FeatureScratch, states: UnsafePointer<Float>, targets: [Int32], B: Int, T: Int, D: Int,
                            rng: inout RandomGenerator) {
        let Cf = features.Cf
        precondition(targets.count == B * T && features.rows == B * T,
                     "FeatureStaleness.fill: \(targets.count) targets for (\(B), \(T)) and \(features.rows) feature rows")
        let cumulative = probabilities(D: D).reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
        let input = features.input.pointer
        for b in 0..<B {
            for t in 0..<T {
                let u = rng.uniformDouble()
                let d = min(D, 1 + (cumulative.firstIndex { u < $0 } ?? (D - 1))), s = t - d, r = b * T + t
                guard s >= 0 && targets[b * T + s] >= 0 else { features.staleness[r] = 0; continue }
                features.staleness[r] = Int32(d)
                (input + r * Cf).update(from: states + (b * T + s) * Cf, count: Cf)
            }
        }
    }
}
