import Foundation
import Tensor
import Transformer

/// Settings of a speculative decoder.
public struct SpeculativeConfiguration: Codable, Equatable, Sendable {
    /// Temperature / top-k / top-p, applied identically to the target (p) and the draft (q).
    public var sampling: SamplingSettings
    /// How drafts are judged. At temperature 0 every rule reduces to ``AcceptanceRule/greedy``
    /// (p and q are one-hot), and the decoder takes the greedy path whatever the rule.
    public var acceptance: AcceptanceRule
    public var draft: DraftSettings
    /// Seed of the one random stream used for drafting, acceptance draws, residual and bonus samples.
    public var seed: UInt64
    /// Plain fallback while speculation does not pay (``SpeculationSwitch``); off by default in
    /// the library (every step drafts), on by default in the CLI.
    public var autoOff: AutoOffSettings

    public init(sampling: SamplingSettings = .greedy, acceptance: AcceptanceRule? = nil,
                draft: DraftSettings = DraftSettings(), seed: UInt64 = 1, autoOff: AutoOffSettings = .off) {
        self.sampling = sampling
        self.acceptance = acceptance ?? (sampling.isGreedy ? .greedy : .rejection)
        self.draft = draft
        self.seed = seed
        self.autoOff = autoOff
    }
}

/// Speculative decoding of one sequence with a target and a draft model (algorithms.md §2).
///
/// **A round.** The caches hold the sequence except its last token s (both models see s first in
/// the next round). The draft proposes gamma tokens x_1..x_gamma autoregressively; its first call
/// of the round also feeds the tokens it has not seen yet (s, and after a fully accepted round
/// x_gamma of that round). The target then appends `s, x_1..x_gamma` in **one** call and returns
/// `p_1..p_{gamma+1}`. Drafts are judged left to right by the ``AcceptanceRule``; the round emits
/// the accepted prefix and one target token (replacement at the first rejection, bonus after
/// full acceptance). Both caches then roll back with `truncate(to:)`: the target to the sequence
/// minus its last token, the draft to the longest prefix of its cache that is still part of the
/// sequence. After every round `target.length == sequence.count − 1` and the draft cache holds
/// the first `draft.length ≥ sequence.count − 2` tokens of the sequence (fewer only after rounds
/// that could not draft).
///
/// **Why greedy output equals plain greedy output token for token.** The plain decoder
/// (``PlainDecoder``) and this one prefill the prompt without its last token with the same call,
/// then the plain decoder appends one token at a time while verification appends `gamma + 1 ≤ 16`
/// tokens at once. ``InferenceSession`` computes appends of up to
/// ``InferenceSession/batchInvariantRows`` tokens with fixed-order row kernels, so every verified
/// row is bitwise the logits single appends would give; the argmax (lowest index on ties) is then
/// the same even when two logits are nearly tied, and the draft only decides how many of those
/// argmaxes are emitted per call. The initializer refuses a `draftMax` whose verification would
/// leave that regime.
///
/// **Why sampled output follows the target.** Accepting x ~ q with probability `min(1, p(x)/q(x))`
/// and otherwise sampling `norm(max(0, p − q))` emits exactly p (Leviathan et al. 2023, Thm. 1);
/// the bonus token is a sample of the next p. Every random draw comes from one seeded
/// ``RandomGenerator`` in a fixed order, so a seed reproduces a run bit for bit (with the
/// adaptive schedule only when its cost ratio is ``CostRatioSource/fixed(_:)``).
///
/// **Auto-off.** With ``SpeculativeConfiguration/autoOff`` enabled, a ``SpeculationSwitch`` decides
/// before each step whether to run a round, a probe round, or a plain step (one single-token target
/// append, the target's token emitted with origin ``TokenOrigin/target``; the draft's cache is left
/// behind and catches up in one append at the next drafted round). After a plain step
/// `target.length == sequence.count − 1` and the draft cache is unchanged. The switch's state (its
/// estimates and mode) carries over from one ``decode(prompt:maxTokens:stopTokens:onToken:onRound:)``
/// call to the next, like the draft-length controller's.
public final class SpeculativeDecoder {
    public let target: DecodingModel
    public let draft: DecodingModel
    public let configuration: SpeculativeConfiguration
    /// Tokens that may be emitted (V); logits past it (padding) are masked.
    public let vocabularySize: Int
    public private(set) var controller: DraftLengthController
    /// The auto-off rule's state.
    public private(set) var speculationSwitch: SpeculationSwitch
    public var rng: RandomGenerator
    /// The sampler both models share.
    public let sampler: Sampler
    private let greedy: Bool
    private var q: [Float]          // (draftMax, V): the draft's distributions of the current round
    private var p: [Float]          // (V)
    private var residual: [Float]   // (V)
    private var drafts: [Int] = []

    /// - Parameters:
    ///   - vocabularySize: V shared by both models (default: the common logit width); see
    ///     ``SharedVocabulary``.
    ///   - costSource: where the adaptive schedule's cost ratio comes from.
    /// - Throws: ``SpecDecodeError`` for invalid settings, different logit widths without a
    ///   `vocabularySize`, or a `draftMax` whose verification exceeds the target's batch-invariant rows.
    public init(target: DecodingModel, draft: DecodingModel, configuration: SpeculativeConfiguration,
                vocabularySize: Int? = nil, costSource: CostRatioSource = .measured) throws {
        try configuration.draft.validate()
        try configuration.autoOff.validate()
        try configuration.acceptance.validate(temperature: configuration.sampling.temperature)
        let s = configuration.sampling
        if s.temperature < 0 || s.topK < 0 || !(s.topP > 0 && s.topP <= 1) {
            throw SpecDecodeError.invalidSettings("sampling settings out of range: temperature \(s.temperature) (≥ 0), "
                                                  + "top-k \(s.topK) (≥ 0), top-p \(s.topP) (in (0, 1])")
        }
        let V: Int
        if let vocabularySize {
            guard vocabularySize >= 1, vocabularySize <= min(target.logitWidth, draft.logitWidth) else {
                throw SpecDecodeError.vocabularyMismatch("vocabulary size \(vocabularySize) exceeds a logit width "
                                                         + "(target \(target.logitWidth), draft \(draft.logitWidth))")
            }
            V = vocabularySize
        } else {
            guard target.logitWidth == draft.logitWidth else {
                throw SpecDecodeError.vocabularyMismatch("the target has \(target.logitWidth) logits per position and the "
                                                         + "draft \(draft.logitWidth); they must share the vocabulary")
            }
            V = target.logitWidth
        }
        let dMax = configuration.draft.draftMax
        if dMax + 1 > target.batchInvariantRows {
            throw SpecDecodeError.invalidSettings("draft-max \(dMax) verifies \(dMax + 1) positions per call, more than the "
                + "\(target.batchInvariantRows) the target computes batch-invariantly; use draft-max ≤ \(target.batchInvariantRows - 1)")
        }
        self.target = target
        self.draft = draft
        self.configuration = configuration
        self.vocabularySize = V
        greedy = configuration.sampling.isGreedy
        sampler = Sampler(settings: configuration.sampling, vocabularySize: V)
        rng = RandomGenerator(seed: configuration.seed)
        let prior = Double(draft.weightBytesPerStep) / Double(max(target.weightBytesPerStep, 1))
        controller = DraftLengthController(settings: configuration.draft, costSource: costSource, priorCostRatio: prior)
        speculationSwitch = SpeculationSwitch(settings: configuration.autoOff, gammaRange: configuration.draft.scheduleRange)
        q = [Float](repeating: 0, count: (greedy ? 1 : dMax) * V)
        p = [Float](repeating: 0, count: V)
        residual = [Float](repeating: 0, count: V)
    }

    /// Emits up to `maxTokens` tokens after `prompt`.
    /// - Parameters:
    ///   - stopTokens: decoding ends after emitting one of these.
    ///   - onToken: called for every emitted token, in order.
    ///   - onRound: called after each round's rollback.
    /// - Throws: ``SpecDecodeError/promptTooLong(_:)`` when the prompt does not fit a model's cache;
    ///   model errors (token ids outside the vocabulary).
    public func decode(prompt: [Int], maxTokens: Int, stopTokens: Set<Int> = [],
                       onToken: (DecodedToken) -> Void = { _ in },
                       onRound: ((RoundEvent) -> Void)? = nil) throws -> SpeculativeOutput {
        try DecodingSupport.checkPrompt(prompt, models: [("target", target), ("draft", draft)])
        var stats = SpeculativeStatistics()
        stats.prompts = 1; stats.promptTokens = prompt.count
        stats.targetWeightBytes = target.weightBytesPerStep; stats.draftWeightBytes = draft.weightBytesPerStep
        var fb = FallbackStatistics()
        let t0 = now()
        try DecodingSupport.prefillAllButLast(target, prompt)
        try DecodingSupport.prefillAllButLast(draft, prompt)
        let loopStart = now()
        stats.prefillSeconds = loopStart - t0

        var seq = prompt
        var out: [Int] = [], origins: [TokenOrigin] = []
        var reason = StopReason.maxTokens
        let settings = configuration.draft
        while out.count < maxTokens {
            // The target must take the last token s: length (= seq.count − 1) + 1 ≤ capacity.
            if seq.count > target.capacity { reason = .contextLimit; break }
            var stopped = false
            let roundStart = out.count
            func emit(_ token: Int, _ origin: TokenOrigin) {
                seq.append(token); out.append(token); origins.append(origin)
                onToken(DecodedToken(id: token, origin: origin))
                if stopTokens.contains(token) { reason = .endOfSequence; stopped = true }
                else if out.count >= maxTokens { reason = .maxTokens; stopped = true }
            }
            let step = speculationSwitch.next
            if step == .plain {
                // 0. Plain fallback: one target step, exactly as PlainDecoder takes it.
                let tp0 = now()
                let logits = try target.append([seq[seq.count - 1]])
                let token = sampleTarget(logits.row(0).pointer)
                let tp1 = now()
                fb.plainSteps += 1; fb.plainSeconds += tp1 - tp0
                speculationSwitch.recordPlain(seconds: tp1 - tp0)
                emit(token, .target)
                onRound?(RoundEvent(drafted: 0, accepted: 0, rejected: false, emitted: [token], targetLength: target.length,
                                    draftLength: draft.length, kind: .plain))
                if stopped { break }
                continue
            }
            let wanted = step == .probe ? settings.draftMax : controller.current
            let gamma = max(0, min(wanted, maxTokens - out.count - 1, target.capacity - seq.count,
                                   draft.capacity - seq.count + 1))

            // 1. Draft up to gamma tokens.
            var td0 = now()
            let roundStartTime = td0
            drafts.removeAll(keepingCapacity: true)
            var calls = 0
            if gamma > 0 {
                var feed = Array(seq[draft.length...])
                if feed.count > 2 {
                    // Catching up after plain steps: timed apart so that c stays the cost of a draft step.
                    _ = try draft.append(Array(feed.dropLast()))
                    let tc = now()
                    fb.catchUpTokens += feed.count - 1; fb.catchUpSeconds += tc - td0
                    td0 = tc
                    feed = [feed[feed.count - 1]]
                }
                for i in 0..<gamma {
                    let logits = try draft.append(feed)
                    calls += 1
                    let row = logits.row(logits.shape[0] - 1).pointer
                    guard let x = propose(row, position: i, settings: settings) else { break }
                    drafts.append(x)
                    feed = [x]
                }
            }
            let td1 = now()

            // 2. Verify s, x_1..x_gamma in one target call: rows 0...gamma are p_1..p_{gamma+1}.
            let logits = try target.append([seq[seq.count - 1]] + drafts)
            let td2 = now()
            stats.rounds += 1; stats.targetCalls += 1; stats.draftCalls += calls; stats.drafted += drafts.count
            stats.draftSeconds += td1 - td0; stats.verifySeconds += td2 - td1
            for i in drafts.indices { stats.count(\.draftedAtPosition, at: i) }

            // 3. Judge left to right; emit the accepted prefix and one target token.
            var accepted = 0, rejected = false
            for i in drafts.indices {
                stats.count(\.judgedAtPosition, at: i)
                let row = logits.row(i).pointer
                if let replacement = judge(row, draft: drafts[i], position: i) {
                    rejected = true
                    stats.rejections += 1
                    emit(replacement, .resampled)
                    break
                }
                accepted += 1
                stats.count(\.acceptedAtPosition, at: i)
                emit(drafts[i], .draft)
                if stopped { break }
            }
            if !rejected && !stopped {
                stats.bonusTokens += 1
                emit(sampleTarget(logits.row(drafts.count).pointer), .bonus)
            }
            stats.accepted += accepted
            stats.count(\.acceptanceHistogram, at: accepted)

            // 4. Roll back to the sequence (the target) and to its longest cached prefix (the draft).
            target.truncate(to: seq.count - 1)
            draft.truncate(to: min(draft.length, seq.count - 1))
            controller.record(drafted: drafts.count, accepted: accepted, rejected: rejected, draftSeconds: td1 - td0,
                              draftCalls: calls, verifySeconds: td2 - td1)
            if step == .probe {
                fb.probeRounds += 1; fb.probeTokens += out.count - roundStart; fb.probeSeconds += now() - roundStartTime
            }
            switch speculationSwitch.recordRound(drafted: drafts.count, accepted: accepted, rejected: rejected,
                                                 draftSeconds: td1 - td0, draftCalls: calls, verifySeconds: td2 - td1) {
            case false?: fb.switchesOff += 1
            case true?: fb.switchesOn += 1
            case nil: break
            }
            onRound?(RoundEvent(drafted: drafts.count, accepted: accepted, rejected: rejected,
                                emitted: Array(out[roundStart...]), targetLength: target.length, draftLength: draft.length,
                                kind: step == .probe ? .probe : .speculative))
            if stopped { break }
        }
        stats.emitted = out.count
        if configuration.autoOff.enabled { stats.fallback = fb }
        stats.otherSeconds = max(0, now() - loopStart - stats.draftSeconds - stats.verifySeconds - stats.plainSeconds
                                    - stats.catchUpSeconds)
        return SpeculativeOutput(tokens: out, origins: origins, stopReason: reason, statistics: stats)
    }

    /// The draft's token at draft position `i` from its logits row, or nil when the confidence
    /// stop ends the draft (`i ≥ draftMin` and top probability < `draftPMin`). Sampling stores q_i.
    private func propose(_ z: UnsafePointer<Float>, position i: Int, settings: DraftSettings) -> Int? {
        let V = vocabularySize
        let checkConfidence = settings.draftPMin > 0 && i >= settings.draftMin
        if greedy {
            if checkConfidence && DecodingSupport.topSoftmaxProbability(z, count: V) < settings.draftPMin { return nil }
            return Sampler.argmax(z, count: V)
        }
        return q.withUnsafeMutableBufferPointer { buffer -> Int? in
            let qi = buffer.baseAddress! + i * V
            sampler.distribution(z, into: qi)
            if checkConfidence {
                var top: Float = 0
                for j in 0..<V { top = max(top, qi[j]) }
                if Double(top) < settings.draftPMin { return nil }
            }
            return rng.categorical(UnsafePointer(qi), count: V)
        }
    }

    /// Judges draft token `x` at position `i` against the target's logits row; nil when accepted,
    /// else the replacement token (the target's argmax when greedy, a residual sample otherwise).
    private func judge(_ u: UnsafePointer<Float>, draft x: Int, position i: Int) -> Int? {
        let V = vocabularySize
        if greedy {
            let t = Sampler.argmax(u, count: V)
            return t == x ? nil : t
        }
        return p.withUnsafeMutableBufferPointer { pb -> Int? in
            q.withUnsafeBufferPointer { qb -> Int? in
                residual.withUnsafeMutableBufferPointer { rb -> Int? in
                    let pp = pb.baseAddress!, qi = qb.baseAddress! + i * V, r = rb.baseAddress!
                    sampler.distribution(u, into: pp)
                    let a = configuration.acceptance.acceptanceProbability(p: Double(pp[x]), q: Double(qi[x]))
                    if rng.uniformDouble() < a { return nil }
                    // Residual norm(max(0, p − q)); if it vanishes (p == q numerically) sample p.
                    var total = 0.0
                    for j in 0..<V {
                        let d = max(0, pp[j] - qi[j])
                        r[j] = d
                        total += Double(d)
                    }
                    return total > 0 ? rng.categorical(UnsafePointer(r), count: V) : rng.categorical(UnsafePointer(pp), count: V)
                }
            }
        }
    }

    /// A token from the target's distribution of a logits row (the bonus token).
    private func sampleTarget(_ u: UnsafePointer<Float>) -> Int {
        p.withUnsafeMutableBufferPointer { sampler.sample(u, scratch: $0.baseAddress!, rng: &rng) }
    }
}
