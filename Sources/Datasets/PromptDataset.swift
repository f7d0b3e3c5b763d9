import Foundation
import Tensor
import Tokenizers
import Transformer

/// How a dataset's prompt is turned into model input text.
public enum PromptTemplate: String, Codable, CaseIterable, Sendable {
    /// The prompt as it is.
    case plain
    /// ChatML, as instruct models like SmolLM2 expect: `<|im_start|>user\n…<|im_end|>\n<|im_start|>assistant\n`,
    /// rendered by ``ChatTemplate/chatML`` (the one ChatML renderer; no default system message, so
    /// training, caches and `eval --chat` see the same text).
    case chatml
    /// AdaSPEC's GSM8K format: question + "\nAnswer the above question. First think step by step and
    /// then answer the final number.\n" (``gsm8kInstruction``). A prompt that already ends with the
    /// instruction (the files of `Scripts/get-data gsm8k` carry it) is left as it is, so the two
    /// GSM8K pipelines never double it.
    case gsm8k
    /// The GSM8K instruction inside a ChatML user turn (for instruct targets such as SmolLM2).
    case gsm8kChat = "gsm8k-chat"

    /// The instruction AdaSPEC appends to a GSM8K question.
    public static let gsm8kInstruction = "\nAnswer the above question. First think step by step and then answer the final number.\n"

    public func render(_ prompt: String) -> String {
        switch self {
        case .gsm8kChat: return PromptTemplate.chatml.render(PromptTemplate.gsm8k.render(prompt))
        case .plain: return prompt
        case .chatml: return ChatTemplate.chatML.render([ChatMessage(role: "user", content: prompt)])
        case .gsm8k: return prompt.hasSuffix(PromptTemplate.gsm8kInstruction) ? prompt : prompt + PromptTemplate.gsm8kInstruction
        }
    }
}

/// One `{"prompt", "response"}` example; `response` is optional when responses are generated.
public struct PromptExample: Codable, Equatable, Sendable {
    public var prompt: String
    public var response: String?
    /// false when the response was cut before its end (e.g. a target response that reached the
    /// token limit): no EOS is appended to it. nil means true.
    public var finished: Bool?
    public init(prompt: String, response: String?, finished: Bool? = nil) {
        self.prompt = prompt; self.response = response; self.finished = finished
    }
}

/// A JSONL prompt/response dataset. Loss and acceptance are measured on response tokens only.
public struct PromptDataset: Sendable {
    public var examples: [PromptExample]
    public var template: PromptTemplate

    public init(examples: [PromptExample], template: PromptTemplate) {
        self.examples = examples; self.template = template
    }

    /// Reads JSONL lines `{"prompt": ..., "response": ...}`; errors name the file and line.
    /// - Parameter requireResponses: fail on lines without a response (fixed-data training).
    public static func load(_ url: URL, template: PromptTemplate, requireResponses: Bool) throws -> PromptDataset {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw DatasetError.data("\(url.path): cannot read the dataset (missing or not UTF-8)")
        }
        var examples: [PromptExample] = []
        for (n, s) in JSONLines.lines(text) {
            guard let obj = JSONLines.object(s) else {
                throw DatasetError.data("\(url.path):\(n): not a JSON object; each line must be {\"prompt\": ..., \"response\": ...}")
            }
            guard let prompt = obj["prompt"] as? String else {
                throw DatasetError.data("\(url.path):\(n): missing string field \"prompt\" (keys: \(obj.keys.sorted().prefix(8)))")
            }
            let response = obj["response"] as? String
            if requireResponses && response == nil {
                throw DatasetError.data("\(url.path):\(n): missing string field \"response\" (needed for fixed data; use --data-source teacher or student to generate responses)")
            }
            examples.append(PromptExample(prompt: prompt, response: response, finished: obj["finished"] as? Bool))
        }
        guard !examples.isEmpty else { throw DatasetError.data("\(url.path): no examples") }
        return PromptDataset(examples: examples, template: template)
    }

    /// Token ids of the rendered prompt (with the tokenizer's special prefix, e.g. BOS).
    public func promptIDs(_ i: Int, tokenizer: Tokenizer) -> [Int] {
        tokenizer.encode(template.render(examples[i].prompt), addSpecialTokens: true)
    }

    /// Token ids of a response followed by EOS (when the tokenizer has one and `finished`).
    public static func responseIDs(_ response: String, tokenizer: Tokenizer, finished: Bool = true) -> [Int] {
        var ids = tokenizer.encode(response, addSpecialTokens: false)
        if finished, let eos = tokenizer.eosTokenID { ids.append(eos) }
        return ids
    }

    /// Token ids of example `i`'s response (empty when it has none), with EOS unless the example
    /// is marked unfinished.
    public func responseIDs(_ i: Int, tokenizer: Tokenizer) -> [Int] {
        Self.responseIDs(examples[i].response ?? "", tokenizer: tokenizer, finished: examples[i].finished ?? true)
    }
}

/// One example packed for a context of T positions: the sequence prompt + response left-truncated
/// to at most T + 1 tokens, keeping the whole response when it fits (prompt tokens are dropped
/// first, always keeping one). Position t (0 ≤ t < min(T, count)) reads `tokens[t]` and is
/// supervised — its target is `tokens[t + 1]` — exactly when t + 1 is a response token, so the
/// supervised positions are the contiguous range ``supervised``.
public struct PackedSequence: Equatable, Sendable {
    /// The kept tokens (≤ T + 1; the last is only ever a target).
    public let tokens: [Int]
    /// Index in `tokens` of the first response token.
    public let responseStart: Int
    /// The context the sequence was packed for.
    public let T: Int

    public init(prompt: [Int], response: [Int], T: Int) {
        var seq = prompt + response
        var start = prompt.count
        if seq.count > T + 1 {
            let drop = min(seq.count - (T + 1), max(0, prompt.count - 1))
            seq.removeFirst(drop)
            start -= drop
            if seq.count > T + 1 { seq.removeLast(seq.count - (T + 1)) }
        }
        tokens = seq; responseStart = start; self.T = T
    }

    /// Positions that are read as inputs: min(T, count).
    public var inputCount: Int { min(T, tokens.count) }

    /// The supervised positions t (target `tokens[t + 1]` is a response token): max(0, start − 1)
    /// ..< count − 1, empty when the response was cut off entirely.
    public var supervised: Range<Int> {
        let lo = max(0, responseStart - 1), hi = tokens.count - 1
        return lo < hi ? lo..<hi : lo..<lo
    }
}

/// Writes one row of a (B, T) batch from prompt and response ids (``PackedSequence``): position t
/// reads the packed token (`pad` past the end) and `targets[t]` is the next token where that token
/// belongs to the response, else −1.
public func packExample(prompt: [Int], response: [Int], T: Int, pad: Int,
                        tokens: inout [Int32], targets: inout [Int32], row b: Int) {
    let packed = PackedSequence(prompt: prompt, response: response, T: T), seq = packed.tokens
    let supervised = packed.supervised
    for t in 0..<T {
        tokens[b * T + t] = t < seq.count ? Int32(seq[t]) : Int32(pad)
        targets[b * T + t] = supervised.contains(t) ? Int32(seq[t + 1]) : -1
    }
}

/// GSM8K preparation (AdaSPEC's formatting, see shared/data/README.md): `{"question", "answer"}`
/// lines become `{"prompt": question, "response": answer}` with "####" replaced by
/// "The final answer is: " and the calculator annotations `<<…>>` **stripped** (they are tool
/// calls, not language). The split is deterministic: a seeded shuffle, then the first
/// `validation` examples are held out.
public enum GSM8K {
    public static func convert(answer: String) -> String {
        var out = ""
        var rest = Substring(answer)
        while let open = rest.range(of: "<<") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: ">>") else { rest = rest[open.lowerBound...]; break }
            rest = rest[close.upperBound...]
        }
        out += rest
        return out.replacingOccurrences(of: "#### ", with: "The final answer is: ").replacingOccurrences(of: "####", with: "The final answer is: ")
    }

    /// Reads the raw file and returns (train, validation).
    public static func prepare(_ url: URL, validation: Int, seed: UInt64) throws -> (train: [PromptExample], validation: [PromptExample]) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw DatasetError.data("\(url.path): cannot read the GSM8K file (JSONL with \"question\" and \"answer\"); pass --in PATH — the project keeps it in ../shared/data/gsm8k/train.jsonl")
        }
        var all: [PromptExample] = []
        for (n, line) in JSONLines.lines(text) {
            guard let obj = JSONLines.object(line), let q = obj["question"] as? String, let a = obj["answer"] as? String else {
                throw DatasetError.data("\(url.path):\(n): expected {\"question\": ..., \"answer\": ...}")
            }
            all.append(PromptExample(prompt: q, response: convert(answer: a)))
        }
        var rng = RandomGenerator(seed: seed)
        for i in stride(from: all.count - 1, to: 0, by: -1) { all.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let v = min(validation, all.count / 2)
        return (Array(all[v...]), Array(all[..<v]))
    }

    /// Writes examples as JSONL (atomically).
    public static func write(_ examples: [PromptExample], to url: URL) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for ex in examples { data.append(try e.encode(ex)); data.append(0x0A) }
        try data.write(to: url, options: .atomic)
    }
}
