import Tensor
import Transformer

/// Drafting from the model's logits and judging drafts against the target's.
extension SpeculativeDecoder {
    /// The draft's token at draft position `i` from its logits row and the draft's confidence in it
    /// (top probability; at temperature 0 of `softmax(z)`, else of q_i, which sampling stores; NaN
    /// when neither stop needs it), or nil when the fixed confidence stop ends the draft
    /// (`i ≥ draftMin` and top probability < `draftPMin`).
    func propose(_ z: UnsafePointer<Float>, position i: Int, settings: DraftSettings) throws -> (token: Int, confidence: Double)? {
        let V = vocabularySize
        let checkConfidence = settings.draftPMin > 0 && i >= settings.draftMin
        let needsConfidence = checkConfidence || settings.costAwareStop
        if greedy, let ids = draftSubset, let lanes = subsetLanes8 {
            // A trimmed head: the argmax and the top probability of its K logits (lowest id on ties,
            // as over the full row; Softmax.topProbability(_:lanes:count:maximum:scratch:) bitwise).
            return subsetScratch.withUnsafeMutableBufferPointer { sb -> (token: Int, confidence: Double)? in
                let c = sb.baseAddress!, K = ids.count
                for k in 0..<K { c[k] = z[Int(ids[k])] }
                let best = Sampler.argmax(c, count: K)
                let top = needsConfidence ? Double(Softmax.topProbability(c, lanes: lanes, count: K, maximum: c[best], scratch: c)) : .nan
                if checkConfidence && top < settings.draftPMin { return nil }
                return (Int(ids[best]), top)
            }
        }
        if greedy {
            let x = Sampler.argmax(z, count: V)
            let top = needsConfidence ? Double(Softmax.topProbability(z, n: V, maximum: z[x])) : .nan
            if checkConfidence && top < settings.draftPMin { return nil }
            return (x, top)
        }
        return try q.withUnsafeMutableBufferPointer { buffer -> (token: Int, confidence: Double)? in
            let qi = buffer.baseAddress! + i * V
            var top = Double.nan
            if let ids = draftSubset {
                // A trimmed head: the same distribution from its K logits (Softmax.temperedRowSubset)
                // and the same draw from its K probabilities (RandomGenerator.checkedCategorical(_:ids:lanes:count:)).
                return try ids.withUnsafeBufferPointer { idb in
                    try subsetScratch.withUnsafeMutableBufferPointer { sb -> (token: Int, confidence: Double)? in
                        // q rows start at zero and only this path writes them, always at these ids.
                        let t = Softmax.temperedRowSubset(out: qi, input: z, n: V, ids: idb, lanes: subsetLanes4!,
                                                          temperature: sampler.settings.temperature, scratch: sb.baseAddress!,
                                                          outsideIsZero: true)
                        if needsConfidence { top = Double(t) }
                        if checkConfidence && top < settings.draftPMin { return nil }
                        return (try drawSubset(sb.baseAddress!, ids: idb, count: V), top)
                    }
                }
            } else {
                sampler.distribution(z, into: qi)
                if needsConfidence { top = Double(Softmax.maximum(qi, n: V)) }
            }
            if needsConfidence && checkConfidence && top < settings.draftPMin { return nil }
            return (try draw(qi, count: V, model: "draft"), top)
        }
    }

    /// Judges draft token `x` at position `i` against the target's logits row; nil when accepted,
    /// else the replacement token (the target's argmax when greedy, a residual sample otherwise).
    ///
    /// With `oneHot` (a lookup proposal, q = 1 at x) no q row is read: x is accepted with
    /// probability `min(1, f(p(x)) / 1)` (p(x) when lossless) and the residual
    /// `norm(max(0, p − q))` is p with x's entry removed (see ``PromptLookup``).
    func judge(_ u: UnsafePointer<Float>, draft x: Int, position i: Int, oneHot: Bool) throws -> Int? {
        let V = vocabularySize
        if greedy {
            let t = Sampler.argmax(u, count: V)
            return t == x ? nil : t
        }
        if oneHot {
            return try p.withUnsafeMutableBufferPointer { pb -> Int? in
                try residual.withUnsafeMutableBufferPointer { rb -> Int? in
                    let pp = pb.baseAddress!, r = rb.baseAddress!
                    sampler.distribution(u, into: pp)
                    let a = configuration.acceptance.acceptanceProbability(p: Double(pp[x]), q: 1)
                    if rng.uniformDouble() < a { return nil }
                    var total = 0.0
                    for j in 0..<V {
                        r[j] = j == x ? 0 : pp[j]
                        total += Double(r[j])
                    }
                    // p(x) = 1 numerically leaves no residual: sample p (the §2.1 guard).
                    return try total > 0 ? draw(r, count: V, model: "target") : draw(pp, count: V, model: "target")
                }
            }
        }
        return try p.withUnsafeMutableBufferPointer { pb -> Int? in
            try q.withUnsafeBufferPointer { qb -> Int? in
                try residual.withUnsafeMutableBufferPointer { rb -> Int? in
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
                    return try total > 0 ? draw(r, count: V, model: "target") : draw(pp, count: V, model: "target")
                }
            }
        }
    }

    /// A token from the target's distribution of a logits row (the bonus token).
    /// - Throws: ``SpecDecodeError/invalidLogits(_:)`` when sampling meets NaN/+Inf logits.
    func sampleTarget(_ u: UnsafePointer<Float>) throws -> Int {
        if greedy { return Sampler.argmax(u, count: vocabularySize) }
        return try p.withUnsafeMutableBufferPointer { pb -> Int in
            sampler.distribution(u, into: pb.baseAddress!)
            return try draw(pb.baseAddress!, count: vocabularySize, model: "target")
        }
    }

    /// ``draw(_:count:model:)`` of the draft's row given as its K kept probabilities (a trimmed head):
    /// the same token from the same random stream.
    func drawSubset(_ values: UnsafePointer<Float>, ids: UnsafeBufferPointer<Int32>, count V: Int) throws -> Int {
        do { return try rng.checkedCategorical(values, ids: ids, lanes: subsetLanes4!, count: V) } catch { throw invalidLogits(error, model: "draft") }
    }

    /// ``RandomGenerator/checkedCategorical(_:count:)``: NaN or +Inf logits (which make NaN
    /// probabilities) end decoding with an error naming the model instead of a trap; −Inf logits
    /// (masked tokens) are zero weights and fine.
    /// - Throws: ``SpecDecodeError/invalidLogits(_:)``.
    func draw(_ weights: UnsafePointer<Float>, count V: Int, model: String) throws -> Int {
        do { return try rng.checkedCategorical(weights, count: V) } catch { throw invalidLogits(error, model: model) }
    }

    private func invalidLogits(_ error: Error, model: String) -> SpecDecodeError {
        .invalidLogits("the \(model) model's logits are not a distribution (\(error)); its weights or activations hold NaN/Inf — check or re-create the \(model) model file")
    }
}
