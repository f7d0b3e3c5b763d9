/// Building new models from existing ones.
extension TransformerModel {
    /// A model with the same architecture and sizes but only the layers `layers` (in that order)
    /// of this model, sharing nothing: embeddings, those layers, the final norm and the output
    /// projection are copied. A common strong initialisation of a draft model when no small
    /// sibling of the target exists (the draft starts in the target's representation space).
    public func truncatedCopy(layers: [Int]) throws -> TransformerModel {
        guard !layers.isEmpty, layers.allSatisfy({ $0 >= 0 && $0 < config.numLayers }) else {
            throw ModelError.invalidConfig("layers \(layers) must be non-empty indices below \(config.numLayers)")
        }
        var c = config
        c.numLayers = layers.count
        let copy = try TransformerModel(config: c)
        func source(_ name: String) -> String {
            guard name.hasPrefix("layers.") else { return name }
            let parts = name.split(separator: ".", maxSplits: 2)
            return "layers.\(layers[Int(parts[1])!]).\(parts[2])"
        }
        // A native model dequantises only the matrices the copy takes.
        materializeFloatWeights(Set(copy.parameters.infos.map { source($0.name) }))
        for info in copy.parameters.infos {
            try copy.parameters[info.name].assign(parameters[source(info.name)])
        }
        return copy
    }

    /// A copy that also reads a target's hidden states (``FeatureInput``): the same parameters plus
    /// W_1…W_D (D, C, Cf) at zero, so it computes exactly what this model computes until trained.
    /// - Throws: for D outside 1…16 or Cf < 1, or a model that already has a feature input.
    public func addingFeatureInput(staleness D: Int, width Cf: Int) throws -> TransformerModel {
        guard config.featureStaleness == 0 else { throw ModelError.invalidConfig("the model already reads target states (staleness \(config.featureStaleness))") }
        var c = config
        c.featureStaleness = D; c.featureWidth = Cf
        let copy = try TransformerModel(config: c)
        materializeFloatWeights()
        for info in parameters.infos { try copy.parameters[info.name].assign(parameters[info.name]) }
        return copy
    }

    /// `n` layer indices spread evenly over the model, always including the first and the last
    /// (for `n` ≥ 2): e.g. 4 of 30 → [0, 10, 19, 29].
    public func evenlySpacedLayers(_ n: Int) -> [Int] {
        let L = config.numLayers
        guard n > 1 else { return [0] }
        let k = min(n, L)
        return (0..<k).map { i in Int((Double(i) * Double(L - 1) / Double(k - 1)).rounded()) }
    }
}
