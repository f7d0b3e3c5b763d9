import Tensor

extension InferenceSession {
    /// Extends several sequences in one forward pass (continuous batching, as servers and
    /// offline data generation do): `batch[b].tokens` are appended to `batch[b].session`, and the
    /// logits of every appended position come back in batch order, shape (Σ nᵦ, V).
    ///
    /// Every linear layer — the weight-bound part of a step — runs once over all rows, so B
    /// sequences advance for about the weight reads of one; positions, KV-cache writes and
    /// attention stay per sequence. With native (GGUF) weights, or at most
    /// ``batchInvariantRows`` rows in all, each row's logits are bitwise those of appending its
    /// tokens to its session alone (the row kernels are batch-invariant).
    ///
    /// The first session's scratch buffers and output layer (its ``restrictOutput(to:excludedLogit:)``)
    /// serve the whole batch; the returned tensor is a view into its buffer that its next append
    /// overwrites.
    /// - Precondition: the sessions are distinct, share one model and the same output restriction.
    /// - Throws: as ``append(_:)`` for any member (then nothing is appended to any session).
    public static func append(_ batch: [(session: InferenceSession, tokens: [Int])]) throws -> Tensor {
        guard let owner = batch.first?.session else { throw ModelError.shape("append: an empty batch") }
        let V = owner.model.config.vocabSize
        var n = 0, maxPast = 0
        for (session, tokens) in batch {
            precondition(session.model === owner.model, "InferenceSession.append(batch): every session must share one model")
            precondition(session.headIDs == owner.headIDs, "InferenceSession.append(batch): every session must restrict its output layer alike")
            guard !tokens.isEmpty else { throw ModelError.shape("append: no tokens for a member of the batch") }
            guard session.length + tokens.count <= session.maxT else {
                throw ModelError.shape("append: \(session.length) cached + \(tokens.count) new positions exceed the context of \(session.maxT); shorten the prompt or the generation")
            }
            for t in tokens where t < 0 || t >= V {
                throw ModelError.shape("token id \(t) is outside the model's vocabulary of \(V)")
            }
            n += tokens.count; maxPast = max(maxPast, session.maxT)
        }
        for i in batch.indices {   // pairwise: a batch is a few sessions, and a step allocates nothing
            for j in batch.indices where j > i {
                precondition(batch[i].session !== batch[j].session, "InferenceSession.append(batch): a session appears twice")
            }
        }
        owner.ensureCapacity(n, past: maxPast)
        var r = 0
        for (session, tokens) in batch {
            for t in tokens { owner.ids[r] = Int32(t); r += 1 }
            owner.segments.append((session, tokens.count))
        }
        defer { owner.segments.removeAll(keepingCapacity: true) }
        owner.run()
        return owner.logitBuffer.rows(0..<n)
    }
}
