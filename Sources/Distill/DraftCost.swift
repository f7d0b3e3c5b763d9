import Dispatch
import Foundation
import Tensor
import Transformer

/// The costs of speculative decoding on this machine for a draft/target pair, in plain target
/// steps: c = one draft step / one plain target step and v(gamma) = one append of gamma + 1 tokens
/// to the target (a verification call) / one plain target step. Timed once, at the start of
/// training, by ``measure(draft:target:draftOutputIDs:context:repetitions:maxGamma:onEvent:)``.
public struct DraftCostMeasurement: Codable, Equatable, Sendable {
    /// Median seconds of a single-token append: the draft (with its trimmed head when given) and the target.
    public var draftStepSeconds: Double
    public var targetStepSeconds: Double
    /// Median seconds of appending gamma + 1 tokens to the target, index gamma − 1 (gamma = 1…maxGamma).
    public var verifySeconds: [Double]
    /// Output rows of the draft's head as timed (K of a trimmed head, else V).
    public var draftOutputRows: Int
    /// Cache length at which the steps were timed.
    public var context: Int

    public init(draftStepSeconds: Double, targetStepSeconds: Double, verifySeconds: [Double], draftOutputRows: Int, context: Int) {
        self.draftStepSeconds = draftStepSeconds; self.targetStepSeconds = targetStepSeconds
        self.verifySeconds = verifySeconds; self.draftOutputRows = draftOutputRows; self.context = context
    }

    /// c = draft step / plain target step.
    public var costRatio: Double { draftStepSeconds / targetStepSeconds }
    /// v(gamma) = verification of gamma + 1 positions / plain target step (gamma in 1…maxGamma).
    public func verifyCost(gamma: Int) -> Double { verifySeconds[gamma - 1] / targetStepSeconds }
    public var maxGamma: Int { verifySeconds.count }
}

/// Progress of ``DraftCost/measure(draft:target:draftOutputIDs:context:repetitions:maxGamma:onEvent:)``
/// (the library prints nothing).
public enum DraftCostEvent: Sendable {
    /// About to time `what` (one event per repetition).
    case timing(String)
    case finished(DraftCostMeasurement)
}

/// "Will this draft pay?": the cost model of speculative decoding,
/// `S(gamma) = tau(alpha, gamma) / (gamma·c + v(gamma))` with
/// `tau(alpha, gamma) = (1 − alpha^(gamma+1)) / (1 − alpha)` tokens per target call (Leviathan et
/// al. 2023; algorithms.md §2.4, with the verification cost v in place of 1), evaluated on
/// teacher-forced alpha and costs measured here.
public enum DraftCost {
    /// Times the draft's and the target's single-token steps and the target's appends of
    /// gamma + 1 tokens at cache length `context`, each the median of `repetitions` runs after one
    /// warm-up pass, interleaved (each call rolled back by truncation, so every run sees the same
    /// cache length). ``measure(drafts:target:context:repetitions:maxGamma:onEvent:)`` for one draft.
    /// - Parameters:
    ///   - draftOutputIDs: the draft's trimmed head (an ``InferenceSession/restrictOutput(to:excludedLogit:)``
    ///     subset, e.g. SpecDecode's `OutputSubset.ids`): c is then the cost of the draft as it decodes.
    ///   - context: cache length of the timed steps (clamped to both models' context).
    /// - Throws: model errors (a context that does not fit).
    public static func measure(draft: TransformerModel, target: TransformerModel, draftOutputIDs: [Int]? = nil,
                               context: Int = 128, repetitions: Int = 9, maxGamma: Int = 8,
                               onEvent: (DraftCostEvent) -> Void = { _ in }) throws -> DraftCostMeasurement {
        try measure(drafts: [(draft, draftOutputIDs)], target: target, context: context, repetitions: repetitions,
                    maxGamma: maxGamma, onEvent: onEvent)[0]
    }

    /// The costs of several candidate drafts against one target, timed in one interleaved loop:
    /// every repetition times each draft's step (in an order rotated by one per repetition), then
    /// the target's step and its appends of
    /// gamma + 1 = 2…maxGamma + 1 tokens, so a busy neighbour or a frequency change between
    /// repetitions affects every candidate alike and their c can be compared. (Timed in separate
    /// processes minutes apart, c of two shapes has differed by more than the shapes do on a noisy
    /// host.) All results share the target's step and verification times.
    /// - Parameter drafts: each model with its trimmed head ids, or nil for the whole vocabulary.
    /// - Returns: one measurement per draft, in order.
    public static func measure(drafts: [(model: TransformerModel, outputIDs: [Int]?)], target: TransformerModel,
                               context: Int = 128, repetitions: Int = 9, maxGamma: Int = 8,
                               onEvent: (DraftCostEvent) -> Void = { _ in }) throws -> [DraftCostMeasurement] {
        precondition(maxGamma >= 1 && repetitions >= 1 && !drafts.isEmpty,
                     "DraftCost.measure: maxGamma and repetitions must be ≥ 1, with at least one draft")
        let maxT = drafts.map { $0.model.config.maxPositions }.reduce(target.config.maxPositions, min)
        let n = max(1, min(context, maxT - maxGamma - 2))
        let V = drafts.map { $0.model.config.vocabSize }.reduce(target.config.vocabSize, min)
        var rng = RandomGenerator(seed: 12345)
        let prompt = (0..<n).map { _ in Int(rng.next() % UInt64(V)) }
        let next = (0...maxGamma).map { _ in Int(rng.next() % UInt64(V)) }
        let draftSessions = drafts.map { d -> InferenceSession in
            let session = InferenceSession(model: d.model, maxT: n + maxGamma + 2)
            if let ids = d.outputIDs { session.restrictOutput(to: ids) }
            return session
        }
        let targetSession = InferenceSession(model: target, maxT: n + maxGamma + 2)
        for session in draftSessions { _ = try session.prefill(prompt) }
        _ = try targetSession.prefill(prompt)
        // Samples: the drafts' steps, then the target's step, then verify gamma = 1…maxGamma.
        let D = drafts.count
        var samples = [[Double]](repeating: [], count: D + maxGamma + 1)
        func time(_ session: InferenceSession, _ tokens: [Int]) throws -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try session.append(tokens)
            let t1 = DispatchTime.now().uptimeNanoseconds
            session.truncate(to: n)
            return Double(t1 - t0) * 1e-9
        }
        for r in 0...repetitions {
            onEvent(.timing("repetition \(r) of \(repetitions): \(D == 1 ? "draft step" : "\(D) draft steps"), target step, verify gamma 1…\(maxGamma)"))
            // The drafts in an order rotated by one each repetition: none is always the first after
            // the target's longest append.
            var row = [Double](repeating: 0, count: D)
            for k in 0..<D { let i = (k + r) % D; row[i] = try time(draftSessions[i], [next[0]]) }
            row += [try time(targetSession, [next[0]])] + (try (1...maxGamma).map { try time(targetSession, Array(next[0...$0])) })
            if r > 0 { for i in row.indices { samples[i].append(row[i]) } }
        }
        func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }
        let t = median(samples[D]), verify = samples[(D + 1)...].map(median)
        let results = draftSessions.indices.map {
            DraftCostMeasurement(draftStepSeconds: median(samples[$0]), targetStepSeconds: t, verifySeconds: verify,
                                 draftOutputRows: draftSessions[$0].outputRows, context: n)
        }
        for m in results { onEvent(.finished(m)) }
        return results
    }

    /// Expected tokens per target call, `(1 − alpha^(gamma+1)) / (1 − alpha)` (gamma + 1 at alpha = 1).
    public static func expectedTokens(alpha: Double, gamma: Int) -> Double {
        let a = min(max(alpha, 0), 1)
        if 1 - a < 1e-12 { return Double(gamma + 1) }
        return (1 - Foundation.pow(a, Double(gamma + 1))) / (1 - a)
    }

    /// The gamma in 1…maxGamma with the largest predicted speedup `tau / (gamma·c + v(gamma))`, and
    /// that speedup (the smallest gamma on ties).
    public static func bestDraftLength(alpha: Double, costs: DraftCostMeasurement) -> (gamma: Int, speedup: Double) {
        var best = (gamma: 1, speedup: -Double.infinity)
        for g in 1...costs.maxGamma {
            let s = expectedTokens(alpha: alpha, gamma: g) / (Double(g) * costs.costRatio + costs.verifyCost(gamma: g))
            if s > best.speedup { best = (g, s) }
        }
        return best
    }

    /// The metrics of ``DistillationEvaluator/evaluate(_:)`` that answer "will this draft pay?",
    /// for alpha in its greedy and sampling forms (`form` = "greedy" / "sampling"):
    /// `expected_tokens_<form>_g<gamma>` for gamma = 1…8, `predicted_speedup_<form>` and
    /// `best_gamma_<form>` (with the measured costs), and `cost_ratio_c`, `verify_cost_v<best gamma>`.
    public static func forecast(greedyAlpha: Double, samplingAlpha: Double, costs: DraftCostMeasurement?,
                                maxGamma: Int = 8) -> [String: Double] {
        var m: [String: Double] = [:]
        for (form, alpha) in [("greedy", greedyAlpha), ("sampling", samplingAlpha)] {
            for g in 1...maxGamma { m["expected_tokens_\(form)_g\(g)"] = expectedTokens(alpha: alpha, gamma: g) }
            if let costs {
                let best = bestDraftLength(alpha: alpha, costs: costs)
                m["predicted_speedup_\(form)"] = best.speedup
                m["best_gamma_\(form)"] = Double(best.gamma)
            }
        }
        if let costs {
            m["cost_ratio_c"] = costs.costRatio
            for g in 1...costs.maxGamma { m["verify_cost_g\(g)"] = costs.verifyCost(gamma: g) }
        }
        return m
    }
}
