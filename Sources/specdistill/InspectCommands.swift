import ArgumentParser
import Foundation
import SpecDistill

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's architecture, parameter count, vocabulary, dtypes and tensor table.")
    @Argument(help: "A Hugging Face model directory or a .gguf file.") var path: String
    @Flag(help: "Print the full tensor table.") var tensors = false

    func run() throws {
        if path.hasSuffix(".gguf"), let file = try? GGUFFile(url: URL(fileURLWithPath: path)), file.tensorInfos.isEmpty {
            try inspectVocabularyOnly(file)
            return
        }
        let bundle = try loadBundle(path, quiet: true)
        let c = bundle.model.config
        print("path          \(bundle.path) (\(bundle.format))")
        print("architecture  \(c.architecture.rawValue)")
        print(String(format: "parameters    %d (%.2fM; %.1f MB as float32)", bundle.model.parameterCount,
                     Double(bundle.model.parameterCount) / 1e6, Double(bundle.model.parameterCount) * 4 / 1e6))
        print("sizes         V \(c.vocabSize), C \(c.hiddenSize), L \(c.numLayers), NH \(c.numHeads), NKV \(c.numKVHeads), HS \(c.headSize), F \(c.intermediateSize)")
        print("context       \(c.maxPositions)")
        print("norm          \(c.usesRMSNorm ? "RMSNorm" : "LayerNorm"), eps \(c.normEps)")
        print("positions     \(c.usesRoPE ? "RoPE theta \(c.ropeTheta), rotary dims \(c.rotaryDim) of \(c.headSize)" : "learned")")
        print("mlp           \(c.usesSwiGLU ? "SwiGLU" : c.hiddenAct), biases qkv \(c.qkvBias) out \(c.outputBias) mlp \(c.mlpBias)")
        print("residual      \(c.parallelResidual ? "parallel" : "sequential"), tied embeddings \(c.tieWordEmbeddings)")
        if let t = bundle.tokenizer {
            print("tokenizer     \(t.vocabularySize) tokens, bos \(t.bosTokenID.map(String.init) ?? "-"), eos \(t.eosTokenID.map(String.init) ?? "-"), add BOS \(t.addBOS)")
        } else {
            print("tokenizer     none")
        }
        print("file dtypes   \(try fileDTypes(bundle).sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))")
        if tensors {
            print("\nruntime tensors (float32):")
            for p in bundle.model.parameters.infos {
                print("  " + pad(p.name, 32) + pad("\(p.shape)", 16) + (p.decay ? "decay" : ""))
            }
        }
    }

    /// A GGUF with metadata but no tensors (llama.cpp's `ggml-vocab-*.gguf`): its vocabulary.
    func inspectVocabularyOnly(_ file: GGUFFile) throws {
        print("path          \(path) (gguf, vocabulary only: no tensors)")
        if let arch = file["general.architecture"]?.string { print("architecture  \(arch) (metadata)") }
        guard let t = try GGUFModelLoader.tokenizer(of: file) else { print("tokenizer     none"); return }
        let pre = file["tokenizer.ggml.pre"]?.string.map { ", pre-tokenizer \($0)" } ?? ""
        let kind = file["tokenizer.ggml.model"]?.string ?? "?"
        print("tokenizer     \(kind)\(pre): \(t.vocabularySize) tokens, bos \(t.bosTokenID.map(String.init) ?? "-"), eos \(t.eosTokenID.map(String.init) ?? "-"), add BOS \(t.addBOS)")
    }

    /// Counts of tensor dtypes in the file the model came from.
    func fileDTypes(_ bundle: ModelBundle) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        if bundle.format == "gguf" {
            for t in try GGUFFile(url: URL(fileURLWithPath: bundle.path)).tensorInfos { counts["\(t.type)", default: 0] += 1 }
        } else {
            let f = try SafetensorsFile(url: URL(fileURLWithPath: bundle.path).appendingPathComponent("model.safetensors"))
            for n in f.tensorNames { counts["\(try f.info(n).dtype)", default: 0] += 1 }
        }
        return counts
    }
}

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids (and pieces) of a text, like llama.cpp's tokenize tool.")
    @Option(name: [.short, .long], help: "Model directory (with tokenizer.json), .gguf file (a vocabulary-only one such as llama.cpp's ggml-vocab-*.gguf too: only its metadata is read), or a tokenizer.json.") var model: String
    @Option(help: "Text to tokenize.") var text: String
    @Flag(help: "Do not add BOS/EOS tokens.") var noSpecial = false
    @Flag(help: "Print JSON: [{\"id\": …, \"piece\": …}].") var json = false

    func run() throws {
        let tok: Tokenizer
        if model.hasSuffix(".json") { tok = try Tokenizer(url: URL(fileURLWithPath: model)) }
        else if model.hasSuffix(".gguf") {
            // The vocabulary alone: works for llama.cpp's vocabulary-only files and skips loading weights.
            guard let t = try GGUFModelLoader.tokenizer(of: URL(fileURLWithPath: model)) else {
                throw ValidationError("\(model) has no tokenizer (no tokenizer.ggml.model); give a tokenizer.json with -m")
            }
            tok = t
        } else { tok = try loadBundle(model, quiet: true).requireTokenizer() }
        let ids = tok.encode(text, addSpecialTokens: !noSpecial)
        if json {
            let items = ids.map { ["id": $0, "piece": tok.piece($0)] as [String: Any] }
            let data = try JSONSerialization.data(withJSONObject: items, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for id in ids { print(pad("\(id)", 8) + "'\(tok.decode([id]))'") }
            print("\(ids.count) tokens")
        }
    }
}

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Print the logits (or top-N log-probabilities) at every position, for debugging and cross-checking.")
    @Option(name: [.short, .long], help: "Model directory or .gguf file.") var model: String
    @Option(help: "Text to run (tokenized with the model's tokenizer).") var text: String?
    @Option(help: "Comma-separated token ids to run instead of text.") var tokens: String?
    @Option(help: "Print the N most probable tokens with log-probabilities per position (0 = all raw logits).") var top = 5
    @Flag(help: "Print JSON: one object per position.") var json = false
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if (text == nil) == (tokens == nil) { throw ValidationError("give exactly one of --text or --tokens") }
    }

    func run() throws {
        threadOptions.apply()
        let bundle = try loadBundle(model, quiet: true)
        let ids: [Int]
        if let tokens {
            ids = try tokens.split(separator: ",").map {
                guard let v = Int($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--tokens: '\($0)' is not an integer") }
                return v
            }
        } else {
            ids = try bundle.requireTokenizer().encode(text!)
        }
        let V = bundle.model.config.vocabSize
        let session = InferenceSession(model: bundle.model, maxT: ids.count)
        let logits = try session.append(ids)
        var rows: [[String: Any]] = []
        for (t, id) in ids.enumerated() {
            let row = Array(UnsafeBufferPointer(start: logits.pointer + t * V, count: V))
            var entry: [String: Any] = ["position": t, "token": id]
            if top > 0 {
                let m = row.max()!
                let lse = Double(m) + log(row.reduce(0.0) { $0 + exp(Double($1 - m)) })
                let best = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(top)
                entry["top"] = best.map { ["id": $0, "logprob": Double(row[$0]) - lse, "piece": bundle.tokenizer?.piece($0) ?? ""] as [String: Any] }
            } else {
                entry["logits"] = row.map(Double.init)
            }
            rows.append(entry)
        }
        if json {
            for r in rows { print(String(decoding: try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys]), as: UTF8.self)) }
        } else {
            for r in rows {
                var line = "\(r["position"]!)\t\(r["token"]!)"
                if let t = r["top"] as? [[String: Any]] {
                    line += "\t" + t.map { String(format: "%d %@ %.4f", $0["id"] as! Int, "'\($0["piece"] as! String)'", $0["logprob"] as! Double) }.joined(separator: " | ")
                } else if let l = r["logits"] as? [Double] {
                    line += "\t" + l.prefix(8).map { String(format: "%.5f", $0) }.joined(separator: " ") + " …"
                }
                print(line)
            }
        }
    }
}
