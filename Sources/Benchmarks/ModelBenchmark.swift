import Foundation
import Tensor
import Transformer
import Distill

/// `specdistill bench model` and `bench decode`: training throughput, batch-1 decoding and the
/// cost of appending several tokens at once for the draft and target configurations of issue 3,
/// with the same-run sgemm peak as the yardstick for model-FLOPs utilisation; and batch-1 greedy
/// decoding of a real model against the machine's measured streaming bandwidth.
///
/// Every number is a median of several timed runs after a warm-up, measured in this process, so
/// the yardsticks (sgemm peak, bandwidth) see the same machine state as the model.
public enum ModelBenchmark {
    /// The two benchmark configurations (vocabulary 8192, context 256): `"draft"` (L 2, C 128,
    /// NH 4, F 344) and `"target"` (L 6, C 384, NH 6, F 1024); F is 4C for GELU architectures.
    public static func config(_ name: String, architecture: Architecture = .llama) -> ModelConfig {
        let big = name == "target"
        let C = big ? 384 : 128
        let swiglu = architecture == .llama || architecture == .qwen2
        return ModelConfig(architecture: architecture, vocabSize: 8192, hiddenSize: C, numLayers: big ? 6 : 2,
                           numHeads: big ? 6 : 4, intermediateSize: swiglu ? (big ? 1024 : 344) : 4 * C, maxPositions: 256)
    }

    /// What ``run(name:config:B:T:steps:decodeTokens:decodeRepetitions:)`` measured for one configuration.
    public struct Result: Codable, Sendable {
        public var name: String
        public var parameters: Int
        public var threads: Int
        public var B: Int, T: Int
        public var trainTokensPerSecond: Double
        /// Median seconds of one step: forward, loss, backward, clipping and AdamW.
        public var trainStepSeconds: Double
        /// Median seconds of each phase of a step (timed separately, so they need not add up exactly).
        public var forwardSeconds: Double, lossSeconds: Double, backwardSeconds: Double, optimizerSeconds: Double
        /// Model FLOPs per trained token: 6·(non-embedding parameters + lm head) + attention 6·L·T·C (causal half of 12·L·T·C).
        public var flopsPerToken: Double
        public var achievedGFLOPs: Double
        /// Same-run `cblas_sgemm` GFLOP/s on a training-sized product (M 4096, K C, N 4C).
        public var sgemmPeakGFLOPs: Double
        /// achievedGFLOPs / sgemmPeakGFLOPs.
        public var mfu: Double
        /// Batch-1 greedy decoding: prefill of 16 tokens, then single appends, 128 new tokens in
        /// all (the first from the prefill), prefill included in the time like PyTorch's loop.
        public var decodeTokensPerSecond: Double
        /// Median seconds of appending 1 and 5 tokens at cache length 128 (rolled back after each call).
        public var appendOneSeconds: Double, appendFiveSeconds: Double
        public var appendRatio: Double
    }

    /// Runs the benchmark for one configuration.
    /// - Parameters:
    ///   - name: a label for the result.
    ///   - config: the model configuration (random weights).
    ///   - B, T: training batch (16 × 256 in issue 3).
    ///   - steps: timed training steps (median reported; one warm-up step before).
    ///   - decodeTokens: new tokens per decoding run.
    ///   - decodeRepetitions: timed decoding runs (median reported).
    ///   - train: false skips the training measurement (its fields are then 0).
    public static func run(name: String, config c: ModelConfig, B: Int = 16, T: Int = 256, steps: Int = 5,
                           decodeTokens: Int = 128, decodeRepetitions: Int = 5, train: Bool = true) throws -> Result {
        let model = try TransformerModel(config: c)
        model.initialize(seed: 1)
        let ws = TrainingWorkspace(config: c, B: B, T: T)
        let adam = AdamW(parameters: model.parameters, settings: AdamWSettings(learningRate: 1e-4))
        var rng = RandomGenerator(seed: 2)
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) }
        let targets = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) }
        let dLogits = Tensor(zeros: [B, T, c.vocabSize])
        var objective = CrossEntropyObjective()
        var phases: [[Double]] = [[], [], [], []]
        func step() {
            var t = now()
            func lap(_ i: Int) { let u = now(); phases[i].append(u - t); t = u }
            model.gradients.zero()
            model.forward(tokens: tokens, workspace: ws)
            lap(0)
            dLogits.fill(0)
            _ = targets.withUnsafeBufferPointer {
                objective.evaluate(ObjectiveInput(B: B, T: T, V: c.vocabSize, studentLogits: ws.logits.pointer,
                                                  targets: $0.baseAddress!), dLogits: dLogits.pointer, scale: 1)
            }
            lap(1)
            model.backward(dLogits: dLogits.pointer, workspace: ws)
            lap(2)
            GradientClipping.clip(model.gradients, maxNorm: 1)
            adam.step(parameters: model.parameters, gradients: model.gradients, lr: 1e-4)
            lap(3)
        }
        let stepSeconds = train ? MatmulBenchmark.medianSeconds(repetitions: steps, minSeconds: 0) { step() } : .infinity
        let phase = phases.map { $0.count > 1 ? median(Array($0.dropFirst())) : 0 }
        let embed = c.vocabSize * c.hiddenSize
        let nonEmbedding = Double(model.parameterCount - embed - (c.tieWordEmbeddings ? 0 : embed))
        let flopsPerToken = 6 * (nonEmbedding + Double(embed)) + 6 * Double(c.numLayers * T * c.numHeads * c.headSize)
        let achieved = flopsPerToken * Double(B * T) / stepSeconds / 1e9
        let peakGF = train ? sgemmPeakGFLOPs(C: c.hiddenSize) : 0

        // Batch-1 decoding with the KV cache: a 16-token prompt, then greedy single appends.
        let session = InferenceSession(model: model, maxT: c.maxPositions)
        let prompt = tokens.prefix(16).map(Int.init)
        let decodeSeconds = try medianThrowing(repetitions: decodeRepetitions) {
            _ = try greedy(session, prompt: prompt, newTokens: decodeTokens)
        }
        // Appending 5 tokens vs 1 at cache length 128, rolled back after each call, interleaved
        // so both see the same machine state.
        _ = try session.prefill(tokens.prefix(128).map(Int.init))
        var one: [Double] = [], five: [Double] = []
        for r in 0..<23 {
            let t0 = now(); _ = try session.append([1]); let t1 = now(); session.truncate(to: 128)
            let t2 = now(); _ = try session.append([1, 2, 3, 4, 5]); let t3 = now(); session.truncate(to: 128)
            if r >= 2 { one.append(t1 - t0); five.append(t3 - t2) }
        }
        let (t1, t5) = (median(one), median(five))
        return Result(name: name, parameters: model.parameterCount, threads: Threads.count, B: B, T: T,
                      trainTokensPerSecond: Double(B * T) / stepSeconds, trainStepSeconds: stepSeconds,
                      forwardSeconds: phase[0], lossSeconds: phase[1], backwardSeconds: phase[2], optimizerSeconds: phase[3],
                      flopsPerToken: flopsPerToken, achievedGFLOPs: achieved, sgemmPeakGFLOPs: peakGF,
                      mfu: train ? achieved / peakGF : 0,
                      decodeTokensPerSecond: Double(decodeTokens) / decodeSeconds,
                      appendOneSeconds: t1, appendFiveSeconds: t5, appendRatio: t5 / t1)
    }

    /// `cblas_sgemm` GFLOP/s on a training-sized product (M 4096, K C, N 4C), median of 5.
    public static func sgemmPeakGFLOPs(C: Int) -> Double {
        let peak = MatmulBenchmark.run(.init(m: 4096, k: C, n: 4 * C), repetitions: 5)
        return peak.shape.flops / peak.sgemmSeconds / 1e9
    }

    /// Greedy decoding of `newTokens` tokens after `prompt`: ``DecodingLoop`` with the argmax.
    public static func greedy(_ session: InferenceSession, prompt: [Int], newTokens: Int) throws -> DecodingLoop.Result {
        let V = session.model.config.vocabSize
        return try DecodingLoop.run(session, prompt: prompt, maxTokens: newTokens, choose: { logits in
            let token = Sampler.argmax(logits, count: V)
            return (token, token)
        })
    }

    // MARK: Decoding a real model

    /// What ``decode(model:prompt:newTokens:repetitions:bandwidthBytes:)`` measured.
    public struct DecodeResult: Codable, Sendable {
        public var parameters: Int
        public var threads: Int
        public var promptTokens: Int
        public var newTokens: Int
        /// Median tokens/s over the runs, prefill included (like transformers' `generate`).
        public var tokensPerSecond: Double
        /// Median tokens/s of the single-token appends only (prefill excluded).
        public var appendTokensPerSecond: Double
        /// Weight bytes read per decoded token (float32 at 4 bytes, native GGUF matrices at their
        /// file bytes): every parameter except the embedding
        /// table, which only gives one row (unless it is tied to the lm head, which reads it all).
        public var weightBytesPerToken: Double
        /// weightBytesPerToken × appendTokensPerSecond, in GB/s (10⁹ bytes).
        public var achievedGBs: Double
        /// Same-run streaming read bandwidth from memory (``streamingBandwidth(bytes:repetitions:)``
        /// over 512 MB, larger than any last-level cache), GB/s.
        public var memoryBandwidthGBs: Double
        /// Same-run streaming read bandwidth over a buffer of weightBytesPerToken bytes, read again
        /// and again as decoding reads the weights, GB/s: memory bandwidth when the weights exceed
        /// the last-level cache, that cache's bandwidth when they fit (a 97 MB model in a 300 MB
        /// L3). The bound decoding is measured against.
        public var bandwidthGBs: Double
        /// The bandwidth limit in tokens/s: bandwidthGBs / weightBytesPerToken.
        public var limitTokensPerSecond: Double
        /// appendTokensPerSecond / limitTokensPerSecond.
        public var fractionOfLimit: Double
        /// The greedy tokens of the last run (to check against other implementations).
        public var tokens: [Int]
    }

    /// Weight bytes a batch-1 decoding step reads: ``TransformerModel/weightBytesPerStep(outputRows:)``.
    public static func weightBytesPerToken(_ model: TransformerModel) -> Double { Double(model.weightBytesPerStep()) }

    /// Greedy batch-1 decoding of `model`: `repetitions` runs of `newTokens` tokens after `prompt`.
    /// - Parameter bandwidthBytes: size of the buffer streamed to measure the memory bandwidth (the
    ///   bound itself streams a buffer of the weight bytes per token).
    /// - Parameter outputRows: restrict the output layer to the first K tokens
    ///   (``InferenceSession/restrictOutput(to:excludedLogit:)``), as a trimmed draft head reads it.
    public static func decode(model: TransformerModel, prompt: [Int], newTokens: Int = 64, repetitions: Int = 5,
                              bandwidthBytes: Int = 512 << 20, outputRows: Int? = nil) throws -> DecodeResult {
        let session = InferenceSession(model: model)
        if let outputRows { session.restrictOutput(to: Array(0..<outputRows)) }
        guard prompt.count + newTokens <= session.maxT else {
            throw ModelError.shape("bench decode: \(prompt.count) prompt + \(newTokens) new tokens exceed the context of \(session.maxT); use fewer tokens")
        }
        var tokens: [Int] = []
        var totals: [Double] = [], appends: [Double] = []
        for r in 0...repetitions {
            let run = try greedy(session, prompt: prompt, newTokens: newTokens)
            tokens = run.tokens
            if r > 0 {  // run 0 is the warm-up
                totals.append(run.prefillSeconds + run.decodeSeconds)
                appends.append(max(1e-9, run.decodeSeconds))
            }
        }
        let bytes = Double(model.weightBytesPerStep(outputRows: session.outputRows))
        // Every generated token is one single-token append (the first appends the last prompt token).
        let appendRate = Double(newTokens) / median(appends)
        let memory = streamingBandwidth(bytes: bandwidthBytes)
        let bandwidth = streamingBandwidth(bytes: max(1 << 20, Int(bytes)), repetitions: 15)
        let limit = bandwidth * 1e9 / bytes
        return DecodeResult(parameters: model.parameterCount, threads: Threads.count, promptTokens: prompt.count,
                            newTokens: newTokens, tokensPerSecond: Double(newTokens) / median(totals),
                            appendTokensPerSecond: appendRate, weightBytesPerToken: bytes,
                            achievedGBs: bytes * appendRate / 1e9, memoryBandwidthGBs: memory, bandwidthGBs: bandwidth,
                            limitTokensPerSecond: limit, fractionOfLimit: appendRate / limit, tokens: tokens)
    }

    /// Streaming read bandwidth in GB/s (10⁹ bytes/s): the median over `repetitions` of summing a
    /// `bytes`-sized float buffer, split over ``Threads/count`` threads, after one untimed pass. The
    /// default (512 MB) is larger than the last-level cache, so every byte comes from memory; a
    /// buffer that fits the cache measures the cache.
    public static func streamingBandwidth(bytes: Int = 512 << 20, repetitions: Int = 7) -> Double {
        let n = bytes / 4
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: n)
        let workers = Threads.count
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: workers)
        defer { partial.deallocate() }
        let seconds = MatmulBenchmark.medianSeconds(repetitions: repetitions, minSeconds: 0) {
            parallelFor(workers) { r in
                for w in r { partial[w] = sumFloats(buffer + n * w / workers, n * (w + 1) / workers - n * w / workers) }
            }
        }
        var total: Float = 0
        for w in 0..<workers { total += partial[w] }
        precondition(total > 0, "streamingBandwidth: the sum must be positive")
        return Double(n * 4) / seconds / 1e9
    }

    /// Σ x over `count` floats with 32 independent lanes (fast enough to be memory-bound).
    static func sumFloats(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        let raw = UnsafeRawPointer(x)
        var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()
        var i = 0
        while i + 32 <= count {
            a += raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            b += raw.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
            c += raw.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD8<Float>.self)
            d += raw.loadUnaligned(fromByteOffset: 4 * i + 96, as: SIMD8<Float>.self)
            i += 32
        }
        var s = (a + b + c + d).sum()
        while i < count { s += x[i]; i += 1 }
        return s
    }

    /// Resident set size of this process in bytes (Linux `/proc/self/status` VmRSS), or nil.
    public static func residentBytes() -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    // MARK: Timing helpers

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    static func median(_ xs: [Double]) -> Double {
        precondition(!xs.isEmpty, "median of no values")
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func medianThrowing(repetitions: Int, _ body: () throws -> Void) throws -> Double {
        try body()
        var times: [Double] = []
        for _ in 0..<max(1, repetitions) {
            let t0 = now()
            try body()
            times.append(now() - t0)
        }
        return median(times)
    }
}
