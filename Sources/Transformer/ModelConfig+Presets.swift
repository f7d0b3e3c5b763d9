/// Named model sizes for training from scratch (`--model-config PRESET`).
extension ModelConfig {
    /// Preset names with a one-line description.
    public static let presets: [(name: String, summary: String)] = [
        ("tiny", "2 layers, C 64, 4 heads — seconds per step; tests and smoke runs"),
        ("draft", "2 layers, C 128, 4 heads — a draft model"),
        ("small", "4 layers, C 256, 4 heads"),
        ("target", "6 layers, C 384, 6 heads — a small target model"),
    ]

    /// The preset `name` for `architecture` with vocabulary `V` and context `T`; nil for an unknown name.
    public static func preset(_ name: String, architecture: Architecture = .llama, vocabSize V: Int, context T: Int) -> ModelConfig? {
        let dims: (L: Int, C: Int, NH: Int)
        switch name {
        case "tiny": dims = (2, 64, 4)
        case "draft": dims = (2, 128, 4)
        case "small": dims = (4, 256, 4)
        case "target": dims = (6, 384, 6)
        default: return nil
        }
        let swiglu = architecture == .llama || architecture == .qwen2
        // SwiGLU width ≈ 8C/3 rounded to a multiple of 8 (keeps the MLP's parameters near 8C²).
        let F = swiglu ? (8 * dims.C / 3 + 7) / 8 * 8 : 4 * dims.C
        return ModelConfig(architecture: architecture, vocabSize: V, hiddenSize: dims.C, numLayers: dims.L, numHeads: dims.NH,
                           intermediateSize: F, maxPositions: T, tieWordEmbeddings: architecture == .gpt2 ? true : false)
    }
}
