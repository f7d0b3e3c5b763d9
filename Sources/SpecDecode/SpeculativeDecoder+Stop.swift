/// The decoder's side of the cost-aware confidence stop (``DraftStop``, `--draft-p-min auto`):
/// its decisions with the controller's measured costs, and the evidence it learns from.
extension SpeculativeDecoder {
    /// Whether to draft another token after `kept` drafts whose prefix is accepted with
    /// probability `prefix` (gamma ≤ `maxCount`).
    func stopContinues(prefix: Double, kept: Int, maxCount: Int) -> Bool {
        guard let stop = draftStop else { return true }
        return stop.continues(prefix: prefix, kept: kept, maxCount: maxCount, costRatio: controller.stepCostRatio,
                              verifyCost: { controller.verifyCost(drafts: $0) })
    }

    /// Records token `x` just drafted at position `kept` and returns its calibrated acceptance,
    /// or nil when it does not pay for its verification row (never below the `floor` draft-min).
    func stopKeeps(_ x: (token: Int, confidence: Double), prefix: Double, kept: Int, maxCount: Int, floor: Int) -> Double? {
        guard draftStop != nil else { return 1 }
        draftStop!.recordDrafted(confidence: x.confidence)
        let a = draftStop!.acceptance(confidence: x.confidence)
        if kept < floor { return a }
        let keep = draftStop!.keeps(acceptance: a, prefix: prefix, kept: kept, maxCount: maxCount,
                                    costRatio: controller.stepCostRatio, verifyCost: { controller.verifyCost(drafts: $0) })
        return keep ? a : nil
    }

    /// After a model round: the judged drafts' outcomes (the accepted prefix, then the rejected
    /// one) and the round's tokens and modelled cost (draft calls · c + v(drafts)).
    func stopRecordRound(confidences: [Double], accepted: Int, rejected: Bool, emitted: Int, draftCalls: Int) {
        guard draftStop != nil else { return }
        for i in 0..<min(confidences.count, accepted + (rejected ? 1 : 0)) {
            draftStop!.recordJudged(confidence: confidences[i], accepted: i < accepted ? 1 : 0)
        }
        draftStop!.recordRound(emitted: emitted, cost: Double(draftCalls) * controller.stepCostRatio
                                                        + controller.verifyCost(drafts: confidences.count))
    }

    /// The stop's evidence on a token it dropped at draft position `i`, after a round whose kept
    /// drafts were all accepted: greedy, whether the target's token there is the same; sampling,
    /// the acceptance probability `min(1, f(p(x)) / q(x))` it would have had (`p` holds the bonus
    /// row's distribution, q_i the dropped token's).
    func scoreDropped(_ x: (token: Int, confidence: Double), bonus: Int, position i: Int) {
        guard draftStop != nil else { return }
        let a: Double
        if greedy { a = bonus == x.token ? 1 : 0 } else {
            a = configuration.acceptance.acceptanceProbability(p: Double(p[x.token]), q: Double(q[i * vocabularySize + x.token]))
        }
        draftStop!.recordJudged(confidence: x.confidence, accepted: a)
    }
}
