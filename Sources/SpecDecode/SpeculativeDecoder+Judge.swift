import Tensor
import Transformer

/// Drafting from the model's logits and judging drafts against the target's.
extension SpeculativeDecoder {
    /// The draft's token at draft position `i` from its logits row, or nil when the confidence
    /// stop ends the draft (`i ≥ draftMin` and top probability < `draftPMin`). Sampling stores q_i.
    func propose(_ z: UnsafePointer<Float>, position i: Int, settings: DraftSettings) -> Int? {
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
    ///
    /// With `oneHot` (a lookup proposal, q = 1 at x) no q row is read: x is accepted with
    /// probability `min(1, f(p(x)) / 1)` (p(x) when lossless) and the residual
    /// `norm(max(0, p − q))` is p with x's entry removed (see ``PromptLookup``).
    func judge(_ u: UnsafePointer<Float>, draft x: Int, position i: Int, oneHot: Bool) -> Int? {
        let V = vocabularySize
        if greedy {
            let t = Sampler.argmax(u, count: V)
            return t == x ? nil : t
        }
        if oneHot {
            return p.withUnsafeMutableBufferPointer { pb -> Int? in
                residual.withUnsafeMutableBufferPointer { rb -> Int? in
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
                    return total > 0 ? rng.categorical(UnsafePointer(r), count: V) : rng.categorical(UnsafePointer(pp), count: V)
                }
            }
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
    func sampleTarget(_ u: UnsafePointer<Float>) -> Int {
        p.withUnsafeMutableBufferPointer { sampler.sample(u, scratch: $0.baseAddress!, rng: &rng) }
    }
}
