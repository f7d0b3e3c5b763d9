import ArgumentParser
import Foundation
import SpecDistill

extension ChainPolicy: ExpressibleByArgument {}

/// Prompt-lookup (n-gram) drafting, shared by `decode` and `eval` (issue 18).
struct LookupOptions: ParsableArguments {
    @Option(name: .customLong("lookup-ngram-min"), help: "Shortest n-gram matched by lookup (default 2).") var ngramMin = 2
    @Option(name: .customLong("lookup-ngram-max"), help: "Longest n-gram matched by lookup; tried first (default 3).") var ngramMax = 3
    @Option(name: .customLong("lookup-draft-max"), help: "Most tokens a lookup proposes per round (≤ 15; default: --draft-max).")
    var draftMax: Int?
    @Option(name: .customLong("lookup-corpus"), help: "A text file (tokenized with the target's tokenizer) that lookup also matches in, after the prompt and output.")
    var corpus: String?
    @Flag(name: .customLong("lookup-adaptive"), inversion: .prefixedNo,
          help: "Verify only as many proposed tokens as the cost model says pay (per-n acceptance, measured row cost); --no-lookup-adaptive verifies all.")
    var adaptive = true

    /// The settings with a chain policy.
    func settings(chain: ChainPolicy) -> LookupSettings {
        LookupSettings(nMin: ngramMin, nMax: ngramMax, draftMax: draftMax, chain: chain, adaptive: adaptive)
    }

    func validate() throws {
        do { try settings(chain: .first).validate() } catch { throw ValidationError("\(error)") }
        if let d = draftMax, d + 1 > InferenceSession.batchInvariantRows {
            throw ValidationError("--lookup-draft-max \(d) would verify \(d + 1) positions per call; use ≤ \(InferenceSession.batchInvariantRows - 1)")
        }
    }

    /// The corpus's token ids (empty without --lookup-corpus).
    func corpusTokens(_ tokenizer: Tokenizer) throws -> [Int] {
        guard let corpus else { return [] }
        let url = URL(fileURLWithPath: (corpus as NSString).expandingTildeInPath)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw ValidationError("--lookup-corpus \(corpus): cannot read the file as UTF-8 text")
        }
        let ids = tokenizer.encode(text)
        printErr("lookup corpus: \(ids.count) tokens from \(url.lastPathComponent)")
        return ids
    }
}

/// `--spec-type`: which proposers draft, llama.cpp-style (`lookup`, `model`, or the chain `lookup,model`).
struct SpecType: ExpressibleByArgument, Equatable {
    var lookup: Bool
    var model: Bool

    init?(argument: String) {
        let parts = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, Set(parts).count == parts.count, parts.allSatisfy({ $0 == "lookup" || $0 == "model" }) else { return nil }
        // Lookup is always asked first (it costs nothing), whatever the order given.
        lookup = parts.contains("lookup"); model = parts.contains("model")
    }

    static let model = SpecType(argument: "model")!
    var defaultValueDescription: String { [lookup ? "lookup" : nil, model ? "model" : nil].compactMap { $0 }.joined(separator: ",") }
}
