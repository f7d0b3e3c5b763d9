import Distill
import Formats
import Foundation
import Tokenizers
import Transformer

/// One seed: a small valid input tree in `directory`, of which the file `target` (a path relative
/// to the directory) is mutated. `headerEnd` is where a binary file's header ends (mutations
/// favour it); nil for JSON / JSONL files.
public struct FuzzSeed {
    public let directory: URL
    public let target: String
    public let headerEnd: Int?
}

/// Writes the seeds of every format with the repository's own writers — tiny models
/// (`TransformerModel.save`, `GGUFModelWriter`), a trained BPE tokenizer (`BPETrainer`,
/// `Tokenizer.tokenizerJSON`), datasets (`PromptDataset.write`), a two-step training run
/// (`Trainer`) and a teacher cache (`TeacherCacheBuilder`) — so fuzzing needs no downloads.
public enum FuzzSeeds {
    static let corpus = ["the cat sat on the mat", "a dog ran in the park", "one two three four five six",
                         "the quick brown fox jumps over the lazy dog", "seven eight nine ten"]
    /// The training settings of the seed run (the fuzz target resumes with these).
    static var runSettings: TrainingSettings {
        var s = TrainingSettings()
        s.steps = 3; s.batchSize = 2; s.context = 8; s.seed = 7
        return s
    }

    static func tokenizer() throws -> Tokenizer { try BPETrainer(vocabularySize: 280).train(corpus) }

    /// A tiny configuration of `arch` (V from the tokenizer, C 16, L 2).
    static func config(_ arch: Architecture, vocab V: Int) -> ModelConfig {
        switch arch {
        case .gptNeoX:
            return ModelConfig(architecture: .gptNeoX, vocabSize: V, hiddenSize: 16, numLayers: 2, numHeads: 2,
                               intermediateSize: 32, maxPositions: 16, rotaryFraction: 0.5)
        case .llama, .qwen2:
            return ModelConfig(architecture: arch, vocabSize: V, hiddenSize: 16, numLayers: 2, numHeads: 4, numKVHeads: 2,
                               intermediateSize: 24, maxPositions: 16)
        case .gpt2:
            return ModelConfig(architecture: .gpt2, vocabSize: V, hiddenSize: 16, numLayers: 2, numHeads: 2,
                               intermediateSize: 32, maxPositions: 16)
        }
    }

    static func model(_ arch: Architecture, vocab: Int, seed: UInt64 = 1) throws -> TransformerModel {
        let m = try TransformerModel(config: config(arch, vocab: vocab))
        m.initialize(seed: seed)
        return m
    }

    /// Writes the seeds of `format` under `root/format` and returns them.
    public static func write(_ format: FuzzFormat, into root: URL) throws -> [FuzzSeed] {
        let fm = FileManager.default
        let base = root.appendingPathComponent(format.rawValue)
        try? fm.removeItem(at: base)
        try fm.createDirectory(at: base, withIntermediateDirectories: true)
        let tok = try tokenizer()
        func dir(_ name: String) throws -> URL {
            let d = base.appendingPathComponent(name)
            try fm.createDirectory(at: d, withIntermediateDirectories: true)
            return d
        }
        func modelDir(_ arch: Architecture) throws -> URL {
            let d = try dir(arch.rawValue)
            try ModelBundle(model: try model(arch, vocab: tok.vocabularySize), tokenizer: tok, path: d.path, format: "hf").save(directory: d)
            return d
        }
        switch format {
        case .safetensors, .config, .tokenizer:
            let file = ["safetensors": "model.safetensors", "config": "config.json", "tokenizer": "tokenizer.json"][format.rawValue]!
            return try Architecture.allCases.map { arch in
                let d = try modelDir(arch)
                return FuzzSeed(directory: d, target: file, headerEnd: format == .safetensors ? try safetensorsHeaderEnd(d.appendingPathComponent(file)) : nil)
            }
        case .gguf:
            let vocab = try dir("vocab").appendingPathComponent("vocab.gguf")
            try writeVocabularyGGUF(tok, to: vocab)
            return try [(Architecture.llama, GGMLType.f32), (.qwen2, .q8_0), (.llama, .q4_0)].enumerated().map { i, spec in
                let d = try dir("model\(i)")
                let url = d.appendingPathComponent("model.gguf")
                try GGUFModelWriter.write(try model(spec.0, vocab: tok.vocabularySize), to: url, type: spec.1, tokenizerSource: try GGUFFile(url: vocab))
                return FuzzSeed(directory: d, target: "model.gguf", headerEnd: try GGUFFile(url: url).dataOffset)
            }
        case .jsonl:
            let d = try dir("data")
            let examples = corpus.map { s -> PromptExample in
                let w = s.split(separator: " ")
                return PromptExample(prompt: w.prefix(2).joined(separator: " "), response: " " + w.dropFirst(2).joined(separator: " "))
            }
            try GSM8K.write(examples, to: d.appendingPathComponent("data.jsonl"))
            try Data(corpus.map { "{\"text\": \"\($0)\"}\n" }.joined().utf8).write(to: d.appendingPathComponent("corpus.jsonl"))
            return [FuzzSeed(directory: d, target: "data.jsonl", headerEnd: nil), FuzzSeed(directory: d, target: "corpus.jsonl", headerEnd: nil)]
        case .run:
            let d = try dir("run")
            try tok.tokenizerJSON().write(to: d.appendingPathComponent("tokenizer.json"))
            let m = try model(.llama, vocab: tok.vocabularySize)
            let trainer = try Trainer(model: m, objective: CrossEntropyObjective(), settings: runSettings, runDirectory: d.appendingPathComponent("out"))
            var source = TokenStreamSource(tokens: corpus.flatMap { tok.encode($0) }.map(Int32.init))
            for _ in 0..<2 { _ = try trainer.trainStep(source: &source) }
            try trainer.saveCheckpoint()
            try Data("{\"step\":1,\"loss\":5.5}\n{\"step\":2,\"loss\":5.4}\n{\"step\":3,\"loss\":5.3}\n".utf8)
                .write(to: d.appendingPathComponent("out/metrics.jsonl"))
            let ck = d.appendingPathComponent("out/checkpoint")
            return [FuzzSeed(directory: d, target: "out/checkpoint/trainer_state.json", headerEnd: nil),
                    FuzzSeed(directory: d, target: "out/checkpoint/config.json", headerEnd: nil),
                    FuzzSeed(directory: d, target: "out/metrics.jsonl", headerEnd: nil),
                    FuzzSeed(directory: d, target: "out/checkpoint/optimizer.safetensors",
                             headerEnd: try safetensorsHeaderEnd(ck.appendingPathComponent("optimizer.safetensors"))),
                    FuzzSeed(directory: d, target: "out/checkpoint/model.safetensors",
                             headerEnd: try safetensorsHeaderEnd(ck.appendingPathComponent("model.safetensors")))]
        case .cache:
            let d = try dir("cache")
            try tok.tokenizerJSON().write(to: d.appendingPathComponent("tokenizer.json"))
            let examples = corpus.map { PromptExample(prompt: String($0.prefix(6)), response: String($0.dropFirst(6))) }
            try GSM8K.write(examples, to: d.appendingPathComponent("data.jsonl"))
            let identity = cacheIdentity(vocab: tok.vocabularySize)
            try JSONEncoder().encode(identity).write(to: d.appendingPathComponent("identity.json"))
            let builder = TeacherCacheBuilder(teacher: try model(.llama, vocab: tok.vocabularySize), tokenizer: tok,
                                              dataset: PromptDataset(examples: examples, template: .plain), identity: identity)
            let cache = try builder.build(into: d.appendingPathComponent("cache"))
            let shard = cache.manifest.shards[0].file
            return [FuzzSeed(directory: d, target: "cache/manifest.json", headerEnd: nil),
                    FuzzSeed(directory: d, target: "cache/\(shard)", headerEnd: 32 + 8 * (examples.count + 1))]
        }
    }

    static func cacheIdentity(vocab: Int) -> TeacherCacheIdentity {
        TeacherCacheIdentity(targetSHA256: "fuzz-target", dataSHA256: "fuzz-data", template: PromptTemplate.plain.rawValue,
                             topK: 4, temperature: 1, context: 16, vocabSize: vocab)
    }

    static func safetensorsHeaderEnd(_ url: URL) throws -> Int {
        let d = try Data(contentsOf: url)
        return 8 + Int(d.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    }

    /// A GGUF holding only the tokenizer (byte-level BPE as `tokenizer.ggml.model` "gpt2"), the
    /// source `GGUFModelWriter` copies `tokenizer.*` keys from.
    static func writeVocabularyGGUF(_ tok: Tokenizer, to url: URL) throws {
        guard let json = try JSONSerialization.jsonObject(with: tok.tokenizerJSON()) as? [String: Any],
              let model = json["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Int] else {
            throw ModelError.file("fuzz seeds: the trained tokenizer's JSON has no model.vocab")
        }
        var pieces = [String](repeating: "", count: tok.vocabularySize)
        for (p, i) in vocab where i < pieces.count { pieces[i] = p }
        for t in json["added_tokens"] as? [[String: Any]] ?? [] {
            if let i = t["id"] as? Int, let c = t["content"] as? String, i < pieces.count { pieces[i] = c }
        }
        let merges = (model["merges"] as? [Any] ?? []).compactMap { m -> String? in
            if let s = m as? String { return s }
            if let a = m as? [String], a.count == 2 { return a[0] + " " + a[1] }
            return nil
        }
        var w = GGUFWriter()
        try w.add(key: "general.architecture", .string("llama"))
        try w.add(key: "tokenizer.ggml.model", .string("gpt2"))
        try w.add(key: "tokenizer.ggml.pre", .string("default"))
        try w.add(key: "tokenizer.ggml.tokens", .array(pieces.map { .string($0) }))
        try w.add(key: "tokenizer.ggml.token_type", .array(pieces.indices.map { _ in .int32(1) }))
        try w.add(key: "tokenizer.ggml.merges", .array(merges.map { .string($0) }))
        try w.add(key: "tokenizer.ggml.eos_token_id", .uint32(0))
        try w.write(to: url)
    }
}

/// The seeds of a format written once by the campaign's parent and read by every child
/// (`index.json` beside them lists directory, target and header end of each).
public enum FuzzSeedIndex {
    struct Entry: Codable { var directory: String, target: String, headerEnd: Int? }

    /// Writes the seeds of `format` under `root` with their index; returns them.
    public static func write(_ root: URL, _ format: FuzzFormat) throws -> [FuzzSeed] {
        let seeds = try FuzzSeeds.write(format, into: root)
        let entries = seeds.map { Entry(directory: $0.directory.path, target: $0.target, headerEnd: $0.headerEnd) }
        try JSONEncoder().encode(entries).write(to: root.appendingPathComponent("\(format.rawValue).json"))
        return seeds
    }

    /// The seeds ``write(_:_:)`` wrote (empty when there is no index).
    public static func read(_ root: URL, _ format: FuzzFormat) -> [FuzzSeed] {
        guard let d = try? Data(contentsOf: root.appendingPathComponent("\(format.rawValue).json")),
              let entries = try? JSONDecoder().decode([Entry].self, from: d) else { return [] }
        return entries.map { FuzzSeed(directory: URL(fileURLWithPath: $0.directory), target: $0.target, headerEnd: $0.headerEnd) }
    }
}
