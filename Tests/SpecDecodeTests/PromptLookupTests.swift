import SpecDecode
import Tensor
import Transformer
import XCTest

/// Prompt lookup and chains (issue 18): the n-gram index against a brute-force scan, proposals
/// worked by hand, greedy output equal to plain decoding for every proposer and chain, sampled
/// output distributed as the target's (one-hot q), per-source statistics and the chain policies.
final class PromptLookupTests: XCTestCase {
    func lookupDecoder(target: DecodingModel, draft: DecodingModel?, lookup: LookupSettings = LookupSettings(),
                       sampling: SamplingSettings = .greedy, draftSettings: DraftSettings = DraftSettings(draftMax: 4),
                       seed: UInt64 = 1, corpus: [Int] = []) throws -> SpeculativeDecoder {
        try SpeculativeDecoder(target: target, draft: draft,
                               configuration: SpeculativeConfiguration(sampling: sampling, draft: draftSettings, seed: seed,
                                                                       lookup: lookup),
                               lookupCorpus: corpus, costSource: .fixed(0.2))
    }

    /// Brute force: the position after the latest occurrence of the last n tokens that ends
    /// before the last token (so that a follower exists), or nil.
    func referenceFollower(_ s: [Int], n: Int) -> Int? {
        guard s.count > n else { return nil }
        let suffix = Array(s[(s.count - n)...])
        for start in stride(from: s.count - n - 1, through: 0, by: -1) where Array(s[start..<(start + n)]) == suffix {
            return start + n
        }
        return nil
    }

    func testIndexMatchesBruteForceAtEveryPrefix() {
        var rng = RandomGenerator(seed: 5)
        for V in [2, 3, 6] {
            var index = NGramIndex(nMin: 1, nMax: 4)
            var s: [Int] = []
            for _ in 0..<300 {
                let t = Int(rng.next() % UInt64(V))
                s.append(t)
                index.append(t)
                for n in 1...4 {
                    XCTAssertEqual(index.follower(of: s, end: s.count, n: n), referenceFollower(s, n: n), "V \(V), n \(n), length \(s.count)")
                }
            }
            // Starting over forgets the old sequence.
            index.removeAll()
            index.append(0)
            XCTAssertNil(index.follower(of: [0], end: 1, n: 1))
        }
    }

    /// Hand-worked: in [1 2 3 4 1 2] the longest earlier match of the suffix is [1 2] at 0, so
    /// the proposal is what followed it, [3 4 1 2], cut to maxCount; a corpus match is used when
    /// the context has none, and the longer n wins over a shorter context match.
    func testProposalsWorkedByHand() {
        let lookup = PromptLookup(settings: LookupSettings(nMin: 1, nMax: 3))
        lookup.reset()
        lookup.observe([1, 2, 3, 4, 1, 2])
        var d: [Int] = []
        XCTAssertEqual(lookup.propose(maxCount: 3, into: &d), 2)
        XCTAssertEqual(d, [3, 4, 1])
        d = []
        XCTAssertEqual(lookup.propose(maxCount: 10, into: &d), 2)
        XCTAssertEqual(d, [3, 4, 1, 2], "stops at the end of the sequence")
        lookup.observe([1, 2, 3, 4, 1, 2, 9])
        d = []
        XCTAssertNil(lookup.propose(maxCount: 3, into: &d))
        XCTAssertEqual(d, [])

        let withCorpus = PromptLookup(settings: LookupSettings(nMin: 1, nMax: 2), corpus: [5, 7, 8, 9, 10, 8, 6])
        withCorpus.reset()
        withCorpus.observe([3, 8, 4, 7, 8])
        d = []
        // Context: [7 8] has no earlier occurrence, [8] has (follower 4); corpus: [7 8] → 9 10 …
        XCTAssertEqual(withCorpus.propose(maxCount: 2, into: &d), 2)
        XCTAssertEqual(d, [9, 10])
    }

    /// Hand-worked on the cycle t → t + 1 (V = 8), lookup alone, gamma 4. Prompt [0 1 5 0]:
    /// round 1 proposes [1 5 0] (after the earlier 0), accepts 1, replaces 5 by 2; rounds 2–4 find
    /// no match for 2, 3, 4 and emit the target's token; round 5 matches 5 (followed by 0 in the
    /// prompt), room for 1 draft: [0] rejected, 6 emitted; round 6 has no room and emits 7.
    func testLookupAloneWorkedByHand() throws {
        let target = TransitionModel.cycle(V: 8)
        let dec = try lookupDecoder(target: target, draft: nil, lookup: LookupSettings(nMin: 1, adaptive: false))
        var events: [RoundEvent] = []
        let out = try dec.decode(prompt: [0, 1, 5, 0], maxTokens: 7, onRound: { events.append($0) })
        XCTAssertEqual(out.tokens, [1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(events.map(\.drafted), [3, 0, 0, 0, 1, 0])
        XCTAssertEqual(events.map(\.accepted), [1, 0, 0, 0, 0, 0])
        XCTAssertEqual(events.map(\.source), [.lookup, nil, nil, nil, .lookup, nil])
        XCTAssertEqual(events.map(\.targetLength), [5, 6, 7, 8, 9, 10])
        let lookup = try XCTUnwrap(out.statistics.sources?["lookup"])
        XCTAssertEqual(lookup.rounds, 2); XCTAssertEqual(lookup.drafted, 4); XCTAssertEqual(lookup.accepted, 1)
        XCTAssertEqual(lookup.rejections, 2)
        XCTAssertEqual(out.statistics.derived.alphaBySource?["lookup"]!, 1.0 / 3.0)
        XCTAssertNil(out.statistics.sources?["model"], "no model, no model entry")
    }

    /// Every proposer and chain gives the target's greedy tokens, for every schedule and several
    /// lookup settings, and exercises accepted and rejected lookup drafts.
    func testGreedyOutputEqualsPlainForEveryProposerAndChain() throws {
        let target = TransitionModel.random(V: 7, order: 2, seed: 11)
        let draft = TransitionModel.perturbed(target, seed: 111, noise: 1.2)
        let prompts: [[Int]] = [[3], [0, 1, 2, 0, 1], [6, 6, 5, 4, 1, 0, 2, 3, 3, 1, 5, 6, 0, 2, 4, 4, 1, 0, 2, 5]]
        let lookups = [LookupSettings(nMin: 1), LookupSettings(nMin: 1, adaptive: false), LookupSettings(), LookupSettings(nMin: 2, nMax: 2, draftMax: 8), LookupSettings(nMin: 1, nMax: 4, draftMax: 2)]
        var lookupAccepted = 0, lookupRejected = 0, modelRounds = 0
        for prompt in prompts {
            let plain = try PlainDecoder(model: target.fresh(), sampling: .greedy, seed: 1).decode(prompt: prompt, maxTokens: 60)
            for settings in scheduleSweep {
                for var l in lookups {
                    for (withModel, policy) in [(false, ChainPolicy.first), (true, .first), (true, .expected)] {
                        l.chain = policy
                        let dec = try lookupDecoder(target: target.fresh(), draft: withModel ? draft.fresh() : nil, lookup: l,
                                                    draftSettings: settings, corpus: [1, 2, 3, 4, 5, 6, 0])
                        let out = try dec.decode(prompt: prompt, maxTokens: 60)
                        let label = "prompt \(prompt), \(settings), \(l), model \(withModel)"
                        XCTAssertEqual(out.tokens, plain.tokens, label)
                        let s = out.statistics
                        XCTAssertEqual(s.emitted, s.accepted + s.rejections + s.bonusTokens + (s.timingSteps ?? 0), label)
                        let sources = s.sources!.values
                        XCTAssertEqual(sources.map(\.drafted).reduce(0, +), s.drafted, label)
                        XCTAssertEqual(sources.map(\.accepted).reduce(0, +), s.accepted, label)
                        XCTAssertEqual(sources.map(\.rejections).reduce(0, +), s.rejections, label)
                        lookupAccepted += s.sources!["lookup"]!.accepted
                        lookupRejected += s.sources!["lookup"]!.rejections
                        modelRounds += s.sources!["model"]?.rounds ?? 0
                    }
                }
            }
        }
        XCTAssertGreaterThan(lookupAccepted, 100)
        XCTAssertGreaterThan(lookupRejected, 100)
        XCTAssertGreaterThan(modelRounds, 100)
    }

    /// Lookup proposals are one-hot q: rejection sampling must still emit exactly the target's
    /// distribution (chi-square at the 0.1% level on the first two tokens), alone and chained with
    /// a model draft, and the first lookup draft must be accepted with probability p(x).
    func testSampledOutputFollowsTheTargetWithOneHotProposals() throws {
        let V = 5, runs = 20_000
        let target = TransitionModel.random(V: V, seed: 21, scale: 1.5)
        let draft = TransitionModel.perturbed(target, seed: 22, noise: 4)
        // Prompt [2 3 1 2]: the suffix [2] occurred at 0, so the first proposal is [3 1 2 …].
        let prompt = [2, 3, 1, 2]
        for T in [0.5, 1.0] {
            func p(_ context: Int) -> [Double] {
                referenceDistribution(target.table[(context * V)..<((context + 1) * V)], temperature: T, topK: 0)
            }
            let first = p(2)
            let expected = (0..<(V * V)).map { first[$0 / V] * p($0 / V)[$0 % V] }
            for (withModel, policy, adaptive) in [(false, ChainPolicy.first, false), (false, .first, true), (true, .first, false),
                                                  (true, .expected, false)] {
                let dec = try lookupDecoder(target: target.fresh(), draft: withModel ? draft.fresh() : nil,
                                            lookup: LookupSettings(nMin: 1, chain: policy, adaptive: adaptive), sampling: SamplingSettings(temperature: Float(T)),
                                            draftSettings: DraftSettings(draftMax: 3), seed: 40 + UInt64(T * 10))
                var counts = [Int](repeating: 0, count: V * V)
                var firstAccepted = 0, firstLookupRounds = 0
                var total = SpeculativeStatistics()
                for _ in 0..<runs {
                    var firstRound: RoundEvent?
                    let out = try dec.decode(prompt: prompt, maxTokens: 4, onRound: { e in if firstRound == nil { firstRound = e } })
                    counts[out.tokens[0] * V + out.tokens[1]] += 1
                    total.add(out.statistics)
                    if firstRound?.source == .lookup {
                        firstLookupRounds += 1
                        if firstRound!.accepted > 0 { firstAccepted += 1 }
                    }
                }
                let label = "T \(T), model \(withModel), \(policy), adaptive \(adaptive)"
                XCTAssertGreaterThan(total.sources!["lookup"]!.rejections, policy == .first && !adaptive ? runs / 20 : runs / 200,
                                     "\(label): lookup must reject often")
                ChiSquare(observed: counts, expected: expected).assertConsistent(label)
                if !withModel && !adaptive {
                    // Every first round is a lookup round proposing 3 after 2: accepted with probability p(3 | 2).
                    XCTAssertEqual(firstLookupRounds, runs)
                    let sd = (first[3] * (1 - first[3]) / Double(runs)).squareRoot()
                    XCTAssertEqual(Double(firstAccepted) / Double(runs), first[3], accuracy: 4 * sd, label)
                }
            }
        }
    }

    /// A lookup that is always wrong and a draft equal to the target, on the cycle t → t + 1 over
    /// V = 64 with the prompt 0, 5, 10, … (5i mod 64; every token followed by t + 5): the output
    /// never repeats within 60 tokens, so every match is a prompt 1-gram with a wrong follower.
    /// Round 1 (the prompt's last token 59 has no earlier occurrence) is the model's under both
    /// policies; after it `first` always drafts by lookup, while `expected` moves to the model
    /// once lookup's running alpha falls.
    func testExpectedPolicyPrefersTheBetterSource() throws {
        let V = 64
        let target = TransitionModel.cycle(V: V)
        let prompt = (0..<V).map { (5 * $0) % V }
        var modelRounds: [ChainPolicy: Int] = [:]
        for policy in ChainPolicy.allCases {
            let dec = try lookupDecoder(target: target.fresh(), draft: target.fresh(), lookup: LookupSettings(nMin: 1, chain: policy, adaptive: false))
            let out = try dec.decode(prompt: prompt, maxTokens: 60)
            XCTAssertEqual(out.tokens, (1...60).map { (59 + $0) % V })
            modelRounds[policy] = out.statistics.sources!["model"]!.rounds
            XCTAssertEqual(out.statistics.sources!["lookup"]!.accepted, 0, "\(policy): every lookup draft is wrong")
        }
        XCTAssertEqual(modelRounds[.first], 1)
        XCTAssertGreaterThan(modelRounds[.expected]!, 5)
    }

    /// The adaptive lookup length, worked by hand: E(k) = (1 + a1·Σ_{i<k} ac^i) / (1 + s·k).
    /// a1 0.5, ac 1, s 0.4: E = 1.071, 1.111, 1.136, 1.154, 1.167 for k = 1…5 → 5.
    /// a1 0.2, ac 0.5, s 0.4: E(1) = 0.857 < 1 → 0 (no draft).
    /// a1 0.71, ac 0.86, s 0.38: E = 1.239, 1.318, 1.330, 1.308 for k = 1…4 → 3.
    func testLookupLengthWorkedByHand() {
        func linear(_ s: Double) -> (Int) -> Double { { 1 + s * Double($0) } }
        XCTAssertEqual(LookupLength.best(firstAcceptance: 0.5, laterAcceptance: 1, verifyCost: linear(0.4), maxCount: 5), 5)
        XCTAssertEqual(LookupLength.best(firstAcceptance: 0.2, laterAcceptance: 0.5, verifyCost: linear(0.4), maxCount: 5), 0)
        XCTAssertEqual(LookupLength.best(firstAcceptance: 0.71, laterAcceptance: 0.86, verifyCost: linear(0.38), maxCount: 8), 3)
        XCTAssertEqual(LookupLength.best(firstAcceptance: 0.9, laterAcceptance: 0.9, verifyCost: linear(0), maxCount: 6), 6, "free rows: all")
        // Measured costs that are flat to 3 rows and steep after (AVX2 Q4_1): a1 0.8, ac 0.8,
        // v = 1, 1.02, 1.14, 1.9, 2.5 for k = 0…4: E = 1.765, 2.140, 1.554, 1.345 for k = 1…4 → 2.
        let measured = [1, 1.02, 1.14, 1.9, 2.5]
        XCTAssertEqual(LookupLength.best(firstAcceptance: 0.8, laterAcceptance: 0.8, verifyCost: { measured[$0] }, maxCount: 4), 2)

        var model = LookupLength(nMin: 2, nMax: 3, maxCount: 5)
        XCTAssertEqual(model.verifyCost(drafts: 4), 1, "untimed")
        // Ten first-position rejections of 2-gram matches: A = 0.95^10 = 0.5987,
        // R = 0.95^10 + (1 − 0.95^10)/0.05 = 8.6244 → 0.0649; 3-gram matches keep the prior 0.5.
        for _ in 0..<10 { model.recordJudged(n: 2, accepted: 0, rejected: true) }
        XCTAssertEqual(model.firstAcceptance(n: 2), 0.0649, accuracy: 1e-4)
        XCTAssertEqual(model.firstAcceptance(n: 3), 0.5)
        XCTAssertEqual(model.laterAcceptance, 0.5)
        // One-row calls of 10 ms, calls with 4 drafts of 26 ms: v(4) = 2.6, v(2) on the line between = 1.8.
        for _ in 0..<3 { model.recordCall(drafted: 0, seconds: 0.010) }
        for _ in 0..<3 { model.recordCall(drafted: 4, seconds: 0.026) }
        XCTAssertEqual(model.verifyCost(drafts: 4), 2.6, accuracy: 1e-9)
        XCTAssertEqual(model.verifyCost(drafts: 2), 1.8, accuracy: 1e-9)
        XCTAssertEqual(model.choose(proposed: 5, n: 2), 0, "a 2-gram match that is never accepted is not verified")
    }

    /// Σ_{i=1..k} alpha^i by hand: alpha 0.5, k 3 → 0.875; alpha 1 → k; k 0 → 0.
    func testExpectedAccepted() {
        XCTAssertEqual(DraftChain.expectedAccepted(alpha: 0.5, count: 3), 0.875, accuracy: 1e-12)
        XCTAssertEqual(DraftChain.expectedAccepted(alpha: 1, count: 4), 4)
        XCTAssertEqual(DraftChain.expectedAccepted(alpha: 0.7, count: 0), 0)
    }

    func testRefusesNothingToDraftAndBadSettings() {
        let target = TransitionModel.cycle(V: 4)
        XCTAssertThrowsError(try SpeculativeDecoder(target: target, draft: nil, configuration: SpeculativeConfiguration()))
        XCTAssertThrowsError(try lookupDecoder(target: target, draft: nil, lookup: LookupSettings(nMin: 3, nMax: 2)))
        XCTAssertThrowsError(try lookupDecoder(target: target, draft: nil, lookup: LookupSettings(draftMax: 0)))
    }
}
