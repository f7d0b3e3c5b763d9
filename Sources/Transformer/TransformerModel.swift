import Foundation
import Tensor

/// A decoder-only transformer (GPT-2, Llama, Qwen2 or GPT-NeoX) with its parameters in one flat
/// buffer, a training forward/backward over (B, T) batches and KV-cache inference.
///
/// The model owns its parameters; gradients are allocated on first use by training. Training
/// activations live in a reusable ``TrainingWorkspace``; inference state lives in a
/// ``InferenceSession`` (one per concurrent sequence).
public final class TransformerModel: @unchecked Sendable {
    public let config: ModelConfig
    public let parameters: ParameterSet
    public private(set) lazy var gradients: ParameterSet = parameters.zerosLike()
    /// Pointers into `parameters`.
    public let weights: ModelPointers
    /// The RoPE table built so far (see ``ropeTable(positions:)``), guarded by `ropeLock`.
    private var ropeCache: RopeTable?
    private let ropeLock = NSLock()
    /// The big matrices kept in their GGUF types for inference (``GGUFModelLoader/load(_:weights:)``
    /// with `.native`); nil for a float32 model. While set, ``InferenceSession`` reads these, and
    /// the float32 copies in `parameters` of those matrices are zero, untouched pages until
    /// ``materializeFloatWeights()`` fills them (training and copies call it).
    public internal(set) var native: NativeWeights?

    /// A model with zeroed parameters (load or initialise them afterwards).
    public convenience init(config: ModelConfig) throws { try self.init(config: config, untouchedParameters: false) }

    /// A model with zeroed parameters.
    /// - Parameter untouchedParameters: allocate the parameter buffer as untouched pages that take
    ///   no memory until written (``ParameterSet/init(layout:untouched:)``).
    /// - Throws: ``ModelError`` for an invalid configuration, or when the float32 parameters
    ///   (touched ones) would not fit in the available memory — before anything is allocated.
    public init(config: ModelConfig, untouchedParameters: Bool) throws {
        try config.validate()
        if !untouchedParameters { try config.checkFitsInMemory() }
        self.config = config
        self.parameters = ParameterSet(layout: ModelLayout.infos(for: config), untouched: untouchedParameters)
        self.weights = ModelPointers(parameters, config: config)
    }

    /// RoPE cosines and sines covering positions `0..<n` at least (nil for GPT-2), built on first
    /// use and grown (at least doubled, at most the model's context) when a caller needs more.
    ///
    /// A table's row for a position does not depend on how many positions it covers, so every
    /// table gives the same rotation. Building only what is used keeps a short decode from holding
    /// the whole context's table: 2 MB for SmolLM2's 8,192 positions, 16 MB for Qwen2.5's 32,768.
    /// Thread-safe; a caller keeps the table it got (its arrays are shared, not copied).
    /// - Parameter n: positions needed (clamped to `config.maxPositions`).
    public func ropeTable(positions n: Int) -> RopeTable? {
        guard config.usesRoPE else { return nil }
        ropeLock.lock(); defer { ropeLock.unlock() }
        let n = min(max(n, 1), config.maxPositions), have = ropeCache?.maxPositions ?? 0
        if let table = ropeCache, have >= n { return table }
        let table = RopeTable(maxPositions: min(max(n, 2 * have), config.maxPositions), rotaryDim: config.rotaryDim,
                              theta: config.ropeTheta)
        ropeCache = table
        return table
    }

    /// Pointers into `gradients`.
    public private(set) lazy var gradientPointers: ModelPointers = ModelPointers(gradients, config: config)

    /// Number of parameters.
    public var parameterCount: Int { parameters.count }

    /// GPT-2-style initialisation: normal(0, 0.02) for matrices, with the residual projections
    /// (`attn_out`, `mlp_down`) scaled by 1/sqrt(2L); norms weight 1, bias 0; biases 0.
    public func initialize(seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        let residualStd = 0.02 / Float(2 * config.numLayers).squareRoot()
        for p in parameters.infos {
            let t = parameters[p.name]
            if p.name.hasSuffix("norm1.weight") || p.name.hasSuffix("norm2.weight") || p.name == "final_norm.weight" {
                t.fill(1)
            } else if p.shape.count == 1 {
                t.fill(0)
            } else if p.name.hasSuffix("attn_out.weight") || p.name.hasSuffix("mlp_down.weight") {
                rng.fillNormal(t, std: residualStd)
            } else {
                rng.fillNormal(t, std: 0.02)
            }
        }
    }
}
