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
    /// Draftless proposals by prompt lookup (``PromptLookup``), alone or chained before a draft
    /// model; nil: the draft model alone.
    public var lookup: LookupSettings?

    public init(sampling: SamplingSettings = .greedy, acceptance: AcceptanceRule? = nil,
                draft: DraftSettings = DraftSettings(), seed: UInt64 = 1, autoOff: AutoOffSettings = .off,
                lookup: LookupSettings? = nil) {
        self.sampling = sampling
        self.acceptance = acceptance ?? (sampling.isGreedy ? .greedy : .rejection)
        self.draft = draft
        self.seed = seed
        self.autoOff = autoOff
        self.lookup = lookup
    }
}

/// Speculative decoding of one sequence with a target and a draft model, a prompt lookup, or
/// both chained (algorithms.md §2).
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
///
/// **Lookup and chains.** With ``SpeculativeConfiguration/lookup`` set, a ``PromptLookup``
/// proposes up to its gamma tokens from n-gram matches in prompt + output (+ corpus) before the
/// draft model is asked; a ``DraftChain`` decides which source drafts the round (with no draft
/// model, lookup drafts every round it matches, and a round without a match verifies s alone,
/// emitting one target token). Lookup drafts are judged with a one-hot q (see ``PromptLookup``);
/// the draft model's cache is not fed during lookup rounds and catches up in one batched append,
/// as after plain fallback steps. Per-source counters go to ``SpeculativeStatistics/sources``.
public final class SpeculativeDecoder {
    public let target: DecodingModel
    /// The draft model (nil: lookup alone).
    public let draft: DecodingModel?
    /// The prompt-lookup proposer (nil: the draft model alone).
    public let lookup: PromptLookup?
    /// The chain's per-source acceptance and choice (state carries over between decodes).
    public private(set) var chain: DraftChain
    /// How much of a lookup proposal is verified (with ``LookupSettings/adaptive``; state carries over).
    public private(set) var lookupLength: LookupLength?
    public let configuration: SpeculativeConfiguration
    /// Tokens that may be emitted (V); logits past it (padding) are masked.
    public let vocabularySize: Int
    public private(set) var controller: DraftLengthController
    /// The cost-aware confidence stop's calibration and rate (``DraftSettings/draftPMinAuto``; state carries over).
    public internal(set) var draftStop: DraftStop?
    /// The auto-off rule's state.
    public private(set) var speculationSwitch: SpeculationSwitch
    public var rng: RandomGenerator
    /// The sampler both models share.
    public let sampler: Sampler
    let greedy: Bool
    var q: [Float]          // (draftMax, V): the draft model's distributions of the current round
    /// The draft's trimmed head ids (``DecodingModel/outputIDs``) when its token and confidence can
    /// be computed on them alone (greedy, or sampling without top-k / top-p), their lanes for the
    /// 4-lane Double and 8-lane Float sums, and K floats of scratch.
    let draftSubset: [Int32]?
    let subsetLanes4: SubsetLanes?, subsetLanes8: SubsetLanes?
    var subsetScratch: [Float]
    var p: [Float]          // (V)
    var residual: [Float]   // (V)
    private var drafts: [Int] = []
    /// Target calls since the last one-row call (plain step or a round without drafts).
    private var callsSinceOneRow = 0
    /// Whether a cost model compares verification with measured plain steps.
    private let needsPlainTimings: Bool
    /// With a draft model and the measured cost-aware stop (``DraftStop``), a timing step (a plain
    /// step, emitting the target's token) is taken when this many target calls passed without a
    /// one-row call. Without it, while speculation pays, the only one-row calls are the
    /// auto-off switch's first two and the last token of each output (gamma 0 at the longest
    /// context): the plain step, and so v(gamma) = t(gamma + 1)/t(1), came from a
    /// handful of unrepresentative calls (SmolLM2-135M Q4_1, 2-core Xeon: t(1) 4.0–4.9 ms where
    /// plain decoding takes ~3 ms, v read as 1.00 for gamma ≤ 3 where it was 1.3–1.4). At 32 the
    /// timing steps are 2–3% of target calls and cost about (1 − 1/S)/32 of the speedup S.
    public static let timingInterval = 32
    private var confidences: [Double] = []   // the draft's confidence in each of drafts (cost-aware stop)

    /// - Parameters:
    ///   - draft: the draft model; nil drafts by lookup alone (``SpeculativeConfiguration/lookup`` required).
    ///   - vocabularySize: V shared by both models (default: the common logit width); see
    ///     ``SharedVocabulary``.
    ///   - lookupCorpus: token ids of extra text for the lookup to match in (`--lookup-corpus`).
    ///   - costSource: where the adaptive schedule's cost ratio comes from.
    /// - Throws: ``SpecDecodeError`` for invalid settings, different logit widths without a
    ///   `vocabularySize`, neither a draft nor lookup, or a `draftMax` (or lookup `draftMax`)
    ///   whose verification exceeds the target's batch-invariant rows.
    public init(target: DecodingModel, draft: DecodingModel?, configuration: SpeculativeConfiguration,
                vocabularySize: Int? = nil, lookupCorpus: [Int] = [], costSource: CostRatioSource = .measured) throws {
        try configuration.draft.validate()
        try configuration.lookup?.validate()
        if draft == nil && configuration.lookup == nil {
            throw SpecDecodeError.invalidSettings("nothing drafts: give a draft model, lookup settings, or both")
        }
        try configuration.autoOff.validate()
        try configuration.acceptance.validate(temperature: configuration.sampling.temperature)
        let s = configuration.sampling
        if s.temperature < 0 || s.topK < 0 || !(s.topP > 0 && s.topP <= 1) {
            throw SpecDecodeError.invalidSettings("sampling settings out of range: temperature \(s.temperature) (≥ 0), "
                                                  + "top-k \(s.topK) (≥ 0), top-p \(s.topP) (in (0, 1])")
        }
        let V: Int
        let draftWidth = draft?.logitWidth ?? target.logitWidth
        if let vocabularySize {
            guard vocabularySize >= 1, vocabularySize <= min(target.logitWidth, draftWidth) else {
                throw SpecDecodeError.vocabularyMismatch("vocabulary size \(vocabularySize) exceeds a logit width "
                                                         + "(target \(target.logitWidth), draft \(draftWidth))")
            }
            V = vocabularySize
        } else {
            guard target.logitWidth == draftWidth else {
                throw SpecDecodeError.vocabularyMismatch("the target has \(target.logitWidth) logits per position and the "
                                                         + "draft \(draftWidth); they must share the vocabulary")
            }
            V = target.logitWidth
        }
        let dMax = configuration.draft.draftMax
        if let l = configuration.lookup?.draftMax, l + 1 > target.batchInvariantRows {
            throw SpecDecodeError.invalidSettings("lookup draft-max \(l) verifies \(l + 1) positions per call, more than the "
                + "\(target.batchInvariantRows) the target computes batch-invariantly; use ≤ \(target.batchInvariantRows - 1)")
        }
        if dMax + 1 > target.batchInvariantRows {
            throw SpecDecodeError.invalidSettings("draft-max \(dMax) verifies \(dMax + 1) positions per call, more than the "
                + "\(target.batchInvariantRows) the target computes batch-invariantly; use draft-max ≤ \(target.batchInvariantRows - 1)")
        }
        self.target = target
        self.draft = draft
        lookup = configuration.lookup.map { PromptLookup(settings: $0, corpus: lookupCorpus) }
        chain = DraftChain(policy: configuration.lookup?.chain ?? .expected)
        lookupLength = configuration.lookup.flatMap { $0.adaptive ? LookupLength(nMin: $0.nMin, nMax: $0.nMax, maxCount: $0.draftMax ?? configuration.draft.draftMax) : nil }
        self.configuration = configuration
        self.vocabularySize = V
        greedy = configuration.sampling.isGreedy
        sampler = Sampler(settings: configuration.sampling, vocabularySize: V)
        rng = RandomGenerator(seed: configuration.seed)
        let prior = Double(draft?.weightBytesPerStep ?? 0) / Double(max(target.weightBytesPerStep, 1))
        controller = DraftLengthController(settings: configuration.draft, costSource: costSource, priorCostRatio: prior)
        // The cost-aware stop replaces auto-off: it drops a first token that does not pay for its
        // row. Together, the switch turned a draft measured at 1.15–1.22× alone off for 32–69% of
        // the tokens in 5 of 6 runs (1.05× median; README, "Does the draft pay?").
        let autoOff = configuration.draft.costAwareStop && draft != nil ? AutoOffSettings.off : configuration.autoOff
        speculationSwitch = SpeculationSwitch(settings: autoOff, gammaRange: configuration.draft.scheduleRange)
        draftStop = configuration.draft.costAwareStop && draft != nil ? DraftStop() : nil
        // The cost-aware stop prices each row with v; lookup's adaptive length has one-row calls
        // in every round without a match, and the auto-off switch learns from its own plain steps.
        // The adaptive schedule could use them too, but measured no faster with them (README).
        needsPlainTimings = costSource == .measured && draft != nil && configuration.draft.costAwareStop
        q = [Float](repeating: 0, count: (greedy || draft == nil ? 1 : dMax) * V)
        let sampling = configuration.sampling
        let plainSoftmax = !(sampling.topK > 0 && sampling.topK < V) && !(sampling.topP < 1)
        draftSubset = greedy || plainSoftmax ? draft?.outputIDs.flatMap { ids in ids.allSatisfy { Int($0) < V } ? ids : nil } : nil
        subsetLanes4 = draftSubset.map { SubsetLanes(ids: $0, n: V, width: 4) }
        subsetLanes8 = draftSubset.map { SubsetLanes(ids: $0, n: V, width: 8) }
        subsetScratch = [Float](repeating: 0, count: draftSubset?.count ?? 0)
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
        try DecodingSupport.checkPrompt(prompt, models: [("target", target)] + (draft.map { [("draft", $0)] } ?? []))
        var stats = SpeculativeStatistics()
        stats.prompts = 1; stats.promptTokens = prompt.count
        stats.targetWeightBytes = target.weightBytesPerStep; stats.draftWeightBytes = draft?.weightBytesPerStep ?? 0
        var fb = FallbackStatistics()
        var bySource = [DraftSourceStatistics](repeating: DraftSourceStatistics(), count: DraftSource.allCases.count)
        let t0 = now()
        try DecodingLoop.prefillAllButLast(target, prompt)
        if let draft { try DecodingLoop.prefillAllButLast(draft, prompt) }
        lookup?.reset(capacity: prompt.count + maxTokens)
        lookup?.observe(prompt)
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
            var step = speculationSwitch.next
            let timing = needsPlainTimings && step == .speculative && callsSinceOneRow >= SpeculativeDecoder.timingInterval
            if timing { step = .plain }
            let room = min(maxTokens - out.count - 1, target.capacity - seq.count)
            // A chain's switch gates the draft model only: a lookup match drafts even in plain fallback.
            let gatesModelOnly = lookup != nil && draft != nil
            // The cost-aware stop decides the length itself: the schedule's gamma is not a cap then.
            let wanted = step == .probe || draftStop != nil ? settings.draftMax : controller.current
            let gamma = step == .plain ? 0 : draft.map { max(0, min(wanted, room, $0.capacity - seq.count + 1)) } ?? 0

            // 1. Draft: lookup first, then (unless the chain keeps lookup's) the model.
            var td0 = now()
            let roundStartTime = td0
            drafts.removeAll(keepingCapacity: true)
            var calls = 0
            var source: DraftSource?
            var matched = 0   // n of the lookup match
            var dropped: (token: Int, confidence: Double)?   // the token the cost-aware stop did not keep
            if let lookup, !timing, step != .plain || gatesModelOnly {
                let lookupGamma = max(0, min(lookup.settings.draftMax ?? settings.draftMax, room))
                lookup.observe(seq)
                if lookupGamma > 0, let n = lookup.propose(maxCount: lookupGamma, into: &drafts) {
                    matched = n
                    if let k = lookupLength?.choose(proposed: drafts.count, n: n) { drafts.removeLast(drafts.count - k) }
                }
                if !drafts.isEmpty {
                    if chain.prefersLookup(lookupCount: drafts.count, modelGamma: gamma, modelCost: controller.costRatioEstimate) {
                        source = .lookup
                        calls = drafts.count   // one look-up per drafted token, as the model's one call per token
                    } else {
                        drafts.removeAll(keepingCapacity: true)
                        chain.recordPassedOver(.lookup)
                    }
                }
            }
            if step == .plain && source == nil {
                // 0. Plain fallback: one target step, exactly as PlainDecoder takes it.
                let tp0 = now()
                let logits = try target.append([seq[seq.count - 1]])
                let token = try sampleTarget(logits.row(0).pointer)
                let tp1 = now()
                callsSinceOneRow = 0
                if timing { stats.timingSteps = (stats.timingSteps ?? 0) + 1 } else { fb.plainSteps += 1; fb.plainSeconds += tp1 - tp0 }
                lookupLength?.recordCall(drafted: 0, seconds: tp1 - tp0)
                controller.recordTargetCall(rows: 1, seconds: tp1 - tp0)
                speculationSwitch.recordPlain(seconds: tp1 - tp0)   // off whenever timing steps are taken
                emit(token, .target)
                onRound?(RoundEvent(drafted: 0, accepted: 0, rejected: false, emitted: [token], targetLength: target.length,
                                    draftLength: draft?.length ?? 0, kind: .plain))
                if stopped { break }
                continue
            }
            if source == nil, let draft, gamma > 0 {
                source = .model
                var feed = Array(seq[draft.length...])
                if feed.count > 2 {
                    // Catching up after plain steps: timed apart so that c stays the cost of a draft step.
                    _ = try draft.append(Array(feed.dropLast()))
                    let tc = now()
                    fb.catchUpTokens += feed.count - 1; fb.catchUpSeconds += tc - td0
                    td0 = tc
                    feed = [feed[feed.count - 1]]
                }
                confidences.removeAll(keepingCapacity: true)
                var prefix = 1.0   // the cost-aware stop's probability that every kept draft is accepted
                for i in 0..<gamma {
                    if draftStop != nil && i >= max(1, settings.draftMin) && !stopContinues(prefix: prefix, kept: i, maxCount: gamma) {
                        break
                    }
                    let logits = try draft.append(feed)
                    calls += 1
                    let row = logits.row(logits.shape[0] - 1).pointer
                    guard let x = try propose(row, position: i, settings: settings) else { break }
                    if draftStop != nil {
                        guard let a = stopKeeps(x, prefix: prefix, kept: i, maxCount: gamma, floor: settings.draftMin) else {
                            dropped = x
                            break
                        }
                        prefix *= a
                    }
                    drafts.append(x.token)
                    confidences.append(x.confidence)
                    feed = [x.token]
                }
                if drafts.isEmpty { source = nil }   // the confidence stop before the first token
            }
            let td1 = now()

            // 2. Verify s, x_1..x_gamma in one target call: rows 0...gamma are p_1..p_{gamma+1}.
            let logits = try target.append([seq[seq.count - 1]] + drafts)
            let td2 = now()
            stats.rounds += 1; stats.targetCalls += 1; stats.draftCalls += calls; stats.drafted += drafts.count
            stats.draftSeconds += td1 - td0; stats.verifySeconds += td2 - td1
            lookupLength?.recordCall(drafted: drafts.count, seconds: td2 - td1)
            controller.recordTargetCall(rows: drafts.count + 1, seconds: td2 - td1)
            callsSinceOneRow = drafts.isEmpty ? 0 : callsSinceOneRow + 1
            for i in drafts.indices { stats.count(\.draftedAtPosition, at: i) }
            let oneHot = source == .lookup

            // 3. Judge left to right; emit the accepted prefix and one target token.
            var accepted = 0, rejected = false
            for i in drafts.indices {
                stats.count(\.judgedAtPosition, at: i)
                let row = logits.row(i).pointer
                if let replacement = try judge(row, draft: drafts[i], position: i, oneHot: oneHot) {
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
                let bonus = try sampleTarget(logits.row(drafts.count).pointer)
                if let d = dropped { scoreDropped(d, bonus: bonus, position: drafts.count) }
                emit(bonus, .bonus)
            }
            if source == .model && draftStop != nil {
                stopRecordRound(confidences: confidences, accepted: accepted, rejected: rejected, emitted: out.count - roundStart,
                                draftCalls: calls)
            }
            stats.accepted += accepted
            stats.count(\.acceptanceHistogram, at: accepted)

            // 4. Roll back to the sequence (the target) and to its longest cached prefix (the draft).
            target.truncate(to: seq.count - 1)
            if let draft { draft.truncate(to: min(draft.length, seq.count - 1)) }
            if let source {
                let k = source == .lookup ? 0 : 1
                bySource[k].rounds += 1; bySource[k].drafted += drafts.count; bySource[k].accepted += accepted
                bySource[k].rejections += rejected ? 1 : 0; bySource[k].draftSeconds += td1 - td0
                chain.record(source, accepted: accepted, rejected: rejected)
                if source == .lookup { lookupLength?.recordJudged(n: matched, accepted: accepted, rejected: rejected) }
            }
            // The schedule learns from the model's rounds only (lookup's gamma is its own).
            if source != .lookup {
                controller.record(drafted: drafts.count, accepted: accepted, rejected: rejected, draftSeconds: td1 - td0,
                                  draftCalls: calls, verifySeconds: td2 - td1)
            }
            // A chain's probe tests the model: a round lookup drafted instead is an ordinary one.
            let isProbe = step == .probe && !(gatesModelOnly && source == .lookup)
            if isProbe {
                fb.probeRounds += 1; fb.probeTokens += out.count - roundStart; fb.probeSeconds += now() - roundStartTime
            }
            // The switch judges what it gates: the model's rounds in a chain (lookup rounds only time
            // the verification), every drafted round otherwise. A round without drafts verified s
            // alone: no evidence on alpha.
            let evidence = gatesModelOnly ? source == .model : (source != nil || lookup == nil)
            if gatesModelOnly && source == .lookup { speculationSwitch.recordVerification(rows: drafts.count + 1, seconds: td2 - td1) }
            switch evidence ? speculationSwitch.recordRound(drafted: drafts.count, accepted: accepted, rejected: rejected,
                                                            draftSeconds: td1 - td0, draftCalls: calls, verifySeconds: td2 - td1) : nil {
            case false?: fb.switchesOff += 1
            case true?: fb.switchesOn += 1
            case nil: break
            }
            onRound?(RoundEvent(drafted: drafts.count, accepted: accepted, rejected: rejected,
                                emitted: Array(out[roundStart...]), targetLength: target.length, draftLength: draft?.length ?? 0,
                                kind: isProbe ? .probe : .speculative, source: source))
            if stopped { break }
        }
        stats.emitted = out.count
        if speculationSwitch.settings.enabled { stats.fallback = fb }
        if lookup != nil {
            stats.sources = [:]
            for (k, s) in zip([DraftSource.lookup, .model], bySource) where draft != nil || k == .lookup { stats.sources![k.rawValue] = s }
        }
        stats.otherSeconds = max(0, now() - loopStart - stats.draftSeconds - stats.verifySeconds - stats.plainSeconds
                                    - stats.catchUpSeconds)
        return SpeculativeOutput(tokens: out, origins: origins, stopReason: reason, statistics: stats)
    }
}
