import Distill
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Runs one input directory through the public loader of its format, then uses what was loaded
/// the way the CLI would (a forward step and a sample; encode and decode; a training step after
/// resume; every cached row), so "accepted" means usable, not just parsed.
public enum FuzzTarget {
    public static func run(_ format: FuzzFormat, input dir: URL) -> FuzzOutcome {
        do {
            try load(format, dir)
            return .accepted
        } catch {
            return .error(messageLength: "\(error)".count)
        }
    }

    /// What the loader says about the input (for replaying a saved input): "accepted" or the error.
    public static func report(_ format: FuzzFormat, input dir: URL) -> String {
        do { try load(format, dir); return "accepted" } catch { return "\(error)" }
    }

    static func load(_ format: FuzzFormat, _ dir: URL) throws {
        switch format {
        case .gguf:
            let url = dir.appendingPathComponent("model.gguf")
            // Alternate the two weight storages by the file's size, so both paths are fuzzed.
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            let bundle = try ModelBundle.load(url.path, weights: size % 2 == 0 ? .native : .f32)
            try use(bundle)
        case .safetensors, .config, .tokenizer:
            try use(try ModelBundle.load(dir.path))
        case .jsonl:
            let data = try PromptDataset.load(dir.appendingPathComponent("data.jsonl"), template: .plain, requireResponses: true)
            _ = data.examples.count
            _ = try TextCorpus.documents(dir.appendingPathComponent("corpus.jsonl"))
        case .run:
            try resumeRun(dir)
        case .cache:
            try readCache(dir)
        }
    }

    /// A forward step of three tokens, a sample at temperature 1, and the tokenizer round trip.
    static func use(_ bundle: ModelBundle) throws {
        let model = bundle.model, V = model.config.vocabSize
        let session = InferenceSession(model: model, maxT: min(8, model.config.maxPositions))
        let n = min(3, session.maxT)
        let logits = try session.append((0..<n).map { $0 % V })
        let sampler = Sampler(settings: SamplingSettings(temperature: 1), vocabularySize: V)
        var rng = RandomGenerator(seed: 1)
        var probs = [Float](repeating: 0, count: V)
        _ = try probs.withUnsafeMutableBufferPointer {
            try sampler.checkedSample(logits.pointer + (n - 1) * V, scratch: $0.baseAddress!, rng: &rng)
        }
        if let tok = bundle.tokenizer { try use(tok) }
    }

    static func use(_ tok: Tokenizer) throws {
        for text in ["the cat sat", "Grüße, 世界! 123 <|endoftext|>", ""] {
            let ids = tok.encode(text)
            _ = tok.decode(ids)
        }
        _ = tok.decode(Array(0..<min(tok.vocabularySize, 4096)))
    }

    static func resumeRun(_ dir: URL) throws {
        let tok = try Tokenizer(url: dir.appendingPathComponent("tokenizer.json"))
        let model = try TransformerModel(config: FuzzSeeds.config(.llama, vocab: tok.vocabularySize))
        let out = dir.appendingPathComponent("out")
        let trainer = try Trainer(model: model, objective: CrossEntropyObjective(), settings: FuzzSeeds.runSettings, runDirectory: out)
        guard try trainer.resume() else { return }
        var source = TokenStreamSource(tokens: FuzzSeeds.corpus.flatMap { tok.encode($0) }.map(Int32.init))
        if trainer.step < trainer.settings.steps { _ = try trainer.trainStep(source: &source) }
        // The checkpoint is also a model directory (what `eval` and `decode` load).
        try use(try ModelBundle.load(out.appendingPathComponent("checkpoint").path))
    }

    static func readCache(_ dir: URL) throws {
        let tok = try Tokenizer(url: dir.appendingPathComponent("tokenizer.json"))
        let identity = try JSONDecoder().decode(TeacherCacheIdentity.self, from: Data(contentsOf: dir.appendingPathComponent("identity.json")))
        let cache = try TeacherCache(directory: dir.appendingPathComponent("cache"), identity: identity)
        var sum: Float = 0
        for i in 0..<cache.manifest.examples {
            let r = cache.rows(example: i)
            for m in 0..<r.positions.count { sum += r.logTail[m]; for k in 0..<cache.K { sum += Float(r.ids[m * cache.K + k]) + r.logProbs[m * cache.K + k] } }
        }
        _ = sum
        let data = try PromptDataset.load(dir.appendingPathComponent("data.jsonl"), template: .plain, requireResponses: true)
        let source = try TeacherCacheSource(dataset: data, tokenizer: tok, cache: cache)
        var rng = RandomGenerator(seed: 3)
        for _ in 0..<3 { _ = try source.nextBatch(B: 2, T: identity.context, rng: &rng) }
    }
}
