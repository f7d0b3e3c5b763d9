import Tensor
import Transformer

/// A ``TransformerModel`` with its KV cache as a ``DecodingModel``: an ``InferenceSession`` (the
/// name the decoders' callers have used; the conformance lives in Transformer).
public typealias SessionModel = InferenceSession

extension InferenceSession {
    /// A session with room for `maxT` positions (default and upper bound: the model's context)
    /// and, for a draft, a trimmed output layer (see ``OutputSubset``): only those logits are
    /// computed, the others are ``OutputSubset/excludedLogit``.
    public convenience init(model: TransformerModel, maxT: Int? = nil, outputSubset: OutputSubset?) {
        self.init(model: model, maxT: maxT)
        if let outputSubset { restrictOutput(to: outputSubset.ids, excludedLogit: OutputSubset.excludedLogit) }
    }
}
