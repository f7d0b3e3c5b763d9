import Foundation
import Tensor
import Transformer

/// `specdistill bench model`: training throughput, batch-1 decoding and the cost of appending
/// several tokens at once, for the draft and target configurations of issue 3, with the same-run
/// sgemm peak as the yardstick for model-FLOPs utilisation.
public enum ModelBenchmark {
    /// The two benchmark configurations (vocabulary 8192, context 256).
    public static func config(_ name: String, architecture: Architecture = .llama) -> ModelConfig {
        let big = name == "target"
        let C = big ? 384 : 128
        let swiglu = architecture == .llama || architecture == .qwen2
        return ModelConfig(architecture: architecture, vocabSize: 8192, hiddenSize: C, numLayers: big ? 6 : 2,
                           numHeads: big ? 6 : 4, intermediateSize: swiglu ? (big ? 1024 : 344) : 4 * C, maxPositions: 256)
    }

    public struct Result: Codable, Sendable {
        public var name: String
        public var parameters: Int
        public var trainTokensPerSecond: Double
        public var trainStepSeconds: Double
        /// Model FLOPs per trained token: 6·(non-embedding parameters + lm head) + attention 6·L·T·C (causal half of 12·L·T·C).
        public var flopsPerToken: Double
        public var achievedGFLOPs: Double
        public var sgemmPeakGFLOPs: Double
        public var mfu: Double { achievedGFLOPs / sgemmPeakGFLOPs }
        public var decodeTokensPerSecond: Double
        public var appendOneSeconds: Double
        public var appendFiveSeconds: Double
        public var appendRatio: Double { appendFiveSeconds / appendOneSeconds }
    }

    /// Runs the benchmark for one configuration.
    public static func run(name: String, config c: ModelConfig, B: Int = 16, T: Int = 256, steps: Int = 5,
                           decodeTokens: Int = 128) throws -> Result {
        let model = try TransformerModel(config: c)
        model.initialize(seed: 1)
        let ws = TrainingWorkspace(config: c, B: B, T: T)
        let adam = AdamW(parameters: model.parameters, settings: AdamWSettings(learningRate: 1e-4))
        var rng = RandomGenerator(seed: 2)
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) }
        let targets = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) }
        let dLogits = Tensor(zeros: [B, T, c.vocabSize])
        var objective = CrossEntropyObjective()
        func step() {
            model.gradients.zero()
            model.forward(tokens: tokens, workspace: ws)
            dLogits.fill(0)
            _ = targets.withUnsafeBufferPointer {
                objective.evaluate(ObjectiveInput(B: B, T: T, V: c.vocabSize, studentLogits: ws.logits.pointer,
                                                  targets: $0.baseAddress!), dLogits: dLogits.pointer, scale: 1)
            }
            model.backward(dLogits: dLogits.pointer, workspace: ws)
            GradientClipping.clip(model.gradients, maxNorm: 1)
            adam.step(parameters: model.parameters, gradients: model.gradients, lr: 1e-4)
        }
        let stepSeconds = MatmulBenchmark.medianSeconds(repetitions: steps, minSeconds: 0) { step() }
        let embed = c.vocabSize * c.hiddenSize
        let nonEmbedding = Double(model.parameterCount - embed - (c.tieWordEmbeddings ? 0 : embed))
        let flopsPerToken = 6 * (nonEmbedding + Double(embed)) + 6 * Double(c.numLayers * T * c.numHeads * c.headSize)
        let achieved = flopsPerToken * Double(B * T) / stepSeconds / 1e9
        let peak = MatmulBenchmark.run(.init(m: 4096, k: c.hiddenSize, n: 4 * c.hiddenSize), repetitions: 5)
        let peakGF = peak.shape.flops / peak.sgemmSeconds / 1e9

        // Batch-1 decoding with the KV cache: a 16-token prompt, then greedy single appends.
        let session = InferenceSession(model: model, maxT: c.maxPositions)
        let prompt = Array(tokens.prefix(16)).map(Int.init)
        var next = 0
        let decodeSeconds = try timeIt {
            var logits = try session.prefill(prompt)
            for _ in 0..<decodeTokens {
                next = Sampler.argmax(logits.pointer, count: c.vocabSize)
                logits = try session.append([next]).row(0)
            }
        }
        // Appending 5 tokens vs 1 at cache length 128, rolled back after each call.
        _ = try session.prefill(Array(tokens.prefix(128)).map(Int.init))
        let one = try medianThrowing { _ = try session.append([1]); session.truncate(to: 128) }
        let five = try medianThrowing { _ = try session.append([1, 2, 3, 4, 5]); session.truncate(to: 128) }
        return Result(name: name, parameters: model.parameterCount, trainTokensPerSecond: Double(B * T) / stepSeconds,
                      trainStepSeconds: stepSeconds, flopsPerToken: flopsPerToken, achievedGFLOPs: achieved,
                      sgemmPeakGFLOPs: peakGF, decodeTokensPerSecond: Double(decodeTokens) / decodeSeconds,
                      appendOneSeconds: one, appendFiveSeconds: five)
    }

    static func timeIt(_ body: () throws -> Void) throws -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }

    static func medianThrowing(repetitions: Int = 21, _ body: () throws -> Void) throws -> Double {
        try body()
        var times: [Double] = []
        for _ in 0..<repetitions { times.append(try timeIt(body)) }
        times.sort()
        return times[times.count / 2]
    }
}
