import Formats
import Foundation

extension Tokenizer {
    /// Loads a Hugging Face tokenizer.json; BOS/EOS/PAD come from the post-processor, from a
    /// `tokenizer_config.json` beside the file when there is one, else from the usual token names.
    /// - Throws: `TokenizerError` naming the file and the unsupported component.
    public convenience init(url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError("cannot read tokenizer file \(url.path): \(error.localizedDescription)")
        }
        let configURL = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        var config: [String: Any]? = nil
        if let c = try? Data(contentsOf: configURL), let object = (try? JSONReader.parse(c)) as? JSONObject {
            config = Dictionary(object.members, uniquingKeysWith: { _, last in last })
        }
        try self.init(tokenizerJSON: data, config: config, source: url.path)
    }

    /// Parses tokenizer.json bytes. Strings are read byte for byte (`JSONReader`) and token texts
    /// compared byte-wise (`TokenText`), as Hugging Face `tokenizers` does.
    /// - Parameters:
    ///   - config: the parsed tokenizer_config.json, if any (its `bos_token`, `eos_token`, `pad_token`).
    ///   - source: the file name used in error messages.
    public convenience init(tokenizerJSON data: Data, config: [String: Any]? = nil, source: String = "tokenizer.json") throws {
        let parsed: Any
        do { parsed = try JSONReader.parse(data) } catch {
            throw TokenizerError("\(source) is not valid JSON (\(error)); expected a Hugging Face tokenizer.json")
        }
        guard let root = parsed as? JSONObject else {
            throw TokenizerError("\(source) is not a JSON object; expected a Hugging Face tokenizer.json")
        }
        let parser = TokenizerJSONParser(source: source)
        guard let modelJSON = root["model"] as? JSONObject else {
            throw TokenizerError("\(source) has no \"model\" object")
        }
        let added = try parser.addedTokens(root["added_tokens"])
        let model = try parser.model(modelJSON, added: added)
        let normalizers = try parser.normalizers(root["normalizer"])
        let pre = try parser.preTokenizers(root["pre_tokenizer"])
        let decoders = try parser.decoders(root["decoder"])
        var pieceToID = model.pieceToID
        for t in added { pieceToID[TokenText(t.content)] = t.id }
        let (prefix, suffix) = try parser.template(root["post_processor"], pieceToID: pieceToID)

        func configToken(_ key: String) -> Int? {
            let value = config?[key]
            let name = (value as? String) ?? ((value as? JSONObject)?["content"] as? String)
                ?? ((value as? [String: Any])?["content"] as? String)
            return name.flatMap { pieceToID[TokenText($0)] }
        }
        // Without a template or config, the usual names among the special added tokens.
        let specialIDs = Dictionary(added.filter(\.special).map { (TokenText($0.content), $0.id) }, uniquingKeysWith: { a, _ in a })
        func named(_ names: [String]) -> Int? { names.lazy.compactMap { specialIDs[TokenText($0)] }.first }
        let bos = configToken("bos_token") ?? prefix.first
            ?? named(["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>"])
        let eos = configToken("eos_token") ?? suffix.last
            ?? named(["</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"])
        let pad = configToken("pad_token") ?? ((root["padding"] as? JSONObject)?["pad_id"] as? Int)
        try self.init(model: model, normalizers: normalizers, preTokenizers: pre, decoders: decoders,
                      addedTokens: added, prefixIDs: prefix, suffixIDs: suffix, bos: bos, eos: eos, pad: pad)
    }
}

/// Reads the components of a tokenizer.json; every unsupported kind is an error naming the
/// file, the component, the kind found, and the kinds supported.
struct TokenizerJSONParser {
    let source: String

    func fail(_ what: String, _ kind: Any?, supported: [String]) -> TokenizerError {
        TokenizerError("\(source): unsupported \(what) \(String(describing: kind ?? "without a type")); supported: \(supported.joined(separator: ", "))")
    }

    func addedTokens(_ json: Any?) throws -> [AddedToken] {
        guard let list = json as? [JSONObject] else { return [] }
        return try list.map { t in
            guard let id = t["id"] as? Int, let content = t["content"] as? String else {
                throw TokenizerError("\(source): an added_tokens entry lacks an integer \"id\" or a string \"content\" (keys: \(t.keys.prefix(8).map { ErrorText.name($0) }))")
            }
            return AddedToken(id: id, content: content, special: t["special"] as? Bool ?? false,
                              lstrip: t["lstrip"] as? Bool ?? false, rstrip: t["rstrip"] as? Bool ?? false)
        }
    }

    func model(_ json: JSONObject, added: [AddedToken]) throws -> BPEModel {
        let type = json["type"] as? String ?? (json["merges"] != nil ? "BPE" : nil)
        guard type == "BPE" else {
            throw TokenizerError("\(source): model type \(type ?? "unknown") is not supported; supported: BPE (byte-level or SentencePiece-style with byte_fallback). WordPiece and Unigram models cannot be loaded")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = json[key] as? String, !v.isEmpty {
                throw TokenizerError("\(source): BPE \(key) \(v.debugDescription) is not supported; supported: BPE without subword prefixes/suffixes")
            }
        }
        if let d = (json["dropout"] as? Double) ?? (json["dropout"] as? Int).map(Double.init), d > 0 {
            throw TokenizerError("\(source): BPE dropout \(d) is not supported (deterministic encoding only); set it to null")
        }
        // Read as a list of members: a String-keyed dictionary would merge canonically
        // equivalent tokens (TokenText).
        guard let vocabJSON = json["vocab"] as? JSONObject else {
            throw TokenizerError("\(source): model.vocab is missing or not a string → id map")
        }
        var entries: [(piece: String, id: Int)] = []
        entries.reserveCapacity(vocabJSON.members.count)
        for (p, v) in vocabJSON.members {
            guard let id = v as? Int else {
                throw TokenizerError("\(source): model.vocab entry \(ErrorText.name(p).debugDescription) has no integer id; model.vocab must map strings to ids")
            }
            entries.append((p, id))
        }
        // Ids index a table allocated here: bound them by the number of entries (holes allowed,
        // but not a table many times larger than the file's vocabulary) before allocating.
        let limit = min(Tokenizer.maxVocabularySize, 2 * (entries.count + added.count) + 1024)
        for (p, id) in entries where id < 0 || id >= limit {
            throw TokenizerError("\(source): token \(ErrorText.name(p).debugDescription) has id \(id), outside 0..<\(limit) (the vocabulary has \(entries.count) entries); the file is corrupt")
        }
        let size = (entries.lazy.map(\.id).max() ?? -1) + 1
        var pieces = [String](repeating: "", count: size)
        // A text listed twice keeps its last id, as when `tokenizers` reads the map.
        var vocab: [TokenText: Int] = [:]
        vocab.reserveCapacity(entries.count)
        for (p, id) in entries {
            pieces[id] = p
            vocab[TokenText(p)] = id
        }
        for t in added where t.id >= 0 && t.id < size && pieces[t.id].isEmpty { pieces[t.id] = t.content }
        var table = MergeTable()
        let rawMerges = json["merges"] as? [Any] ?? []
        for (rank, m) in rawMerges.enumerated() {
            let pair: (String, String)
            if let s = m as? String {
                guard let split = TokenText.splitMerge(s, minimumLeftBytes: 0) else {
                    throw TokenizerError("\(source): merge \(rank) \(s.debugDescription) is not \"left right\"")
                }
                pair = split
            } else if let a = m as? [String], a.count == 2 {
                pair = (a[0], a[1])
            } else {
                throw TokenizerError("\(source): merge \(rank) is neither \"left right\" nor [left, right]: \(ErrorText.name("\(m)"))")
            }
            guard let l = vocab[TokenText(pair.0)], let r = vocab[TokenText(pair.1)], let merged = vocab[TokenText(pair.0 + pair.1)] else {
                throw TokenizerError("\(source): merge \(rank) (\(pair.0.debugDescription), \(pair.1.debugDescription)) uses a token missing from the vocabulary")
            }
            table.add(left: l, right: r, merged: merged, rank: rank, overwrite: true)
        }
        var unknown: Int? = nil
        if let u = json["unk_token"] as? String {
            guard let id = vocab[TokenText(u)] else { throw TokenizerError("\(source): unk_token \(u.debugDescription) is not in the vocabulary") }
            unknown = id
        }
        return BPEModel(pieces: pieces, merges: .table(table),
                        byteFallback: json["byte_fallback"] as? Bool ?? false, unknownID: unknown,
                        fuseUnknown: json["fuse_unk"] as? Bool ?? false,
                        ignoreMerges: json["ignore_merges"] as? Bool ?? false)
    }

    /// A `{"String": s}` pattern's text (Replace, Split).
    func literalPattern(_ json: Any?, in what: String) throws -> (literal: String?, regex: String?) {
        let p = json as? JSONObject
        if let s = p?["String"] as? String { return (s, nil) }
        if let r = p?["Regex"] as? String { return (nil, r) }
        throw TokenizerError("\(source): \(what) pattern \(String(describing: json)) is neither {\"String\": …} nor {\"Regex\": …}")
    }

    func normalizers(_ json: Any?) throws -> [NormalizerStep] {
        guard let n = json as? JSONObject else { return [] }
        let type = n["type"] as? String
        switch type {
        case "Sequence":
            return try (n["normalizers"] as? [Any] ?? []).flatMap { try normalizers($0) }
        case "Prepend":
            return [.prepend(n["prepend"] as? String ?? "")]
        case "Replace":
            let (literal, regex) = try literalPattern(n["pattern"], in: "Replace normalizer")
            guard let l = literal else { throw fail("normalizer Replace with Regex", regex, supported: NormalizerStep.supportedKinds) }
            return [.replace(pattern: l, content: n["content"] as? String ?? "")]
        case "NFC":
            return [.nfc]
        default:
            throw fail("normalizer", type, supported: NormalizerStep.supportedKinds)
        }
    }

    static let preTokenizerKinds = ["ByteLevel", "Split", "Digits", "Metaspace", "Sequence"]

    func preTokenizers(_ json: Any?) throws -> [PreTokenizerStep] {
        guard let p = json as? JSONObject else { return [] }
        let type = p["type"] as? String
        switch type {
        case "Sequence":
            return try (p["pretokenizers"] as? [Any] ?? []).flatMap { try preTokenizers($0) }
        case "ByteLevel":
            return [.byteLevel(addPrefixSpace: p["add_prefix_space"] as? Bool ?? true, useRegex: p["use_regex"] as? Bool ?? true)]
        case "Digits":
            return [.split(.digits(individual: p["individual_digits"] as? Bool ?? false), behavior: .isolated, invert: false)]
        case "Split":
            let (literal, regex) = try literalPattern(p["pattern"], in: "Split pre-tokenizer")
            let pattern: SplitPattern
            if let l = literal { pattern = .literal(l) }
            else if let known = KnownPattern(regex: regex!) { pattern = .known(known) }
            else { pattern = .regex(regex!) }
            let b = p["behavior"] as? String ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: b) else {
                throw fail("Split behavior", b, supported: ["Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"])
            }
            return [.split(pattern, behavior: behavior, invert: p["invert"] as? Bool ?? false)]
        case "Metaspace":
            let rep = (p["replacement"] as? String)?.unicodeScalars.first ?? "▁"
            var scheme: PreTokenizerStep.PrependScheme = (p["add_prefix_space"] as? Bool ?? true) ? .always : .never
            if let s = p["prepend_scheme"] as? String {
                guard let parsed = PreTokenizerStep.PrependScheme(rawValue: s) else {
                    throw fail("Metaspace prepend_scheme", s, supported: ["always", "first", "never"])
                }
                scheme = parsed
            }
            return [.metaspace(replacement: rep, prepend: scheme, split: p["split"] as? Bool ?? true)]
        default:
            throw fail("pre_tokenizer", type, supported: Self.preTokenizerKinds)
        }
    }

    func decoders(_ json: Any?) throws -> [DecoderStep] {
        guard let d = json as? JSONObject else { return [] }
        let type = d["type"] as? String
        switch type {
        case "Sequence":
            return try (d["decoders"] as? [Any] ?? []).flatMap { try decoders($0) }
        case "ByteLevel":
            return [.byteLevel]
        case "Metaspace":
            let rep = (d["replacement"] as? String)?.unicodeScalars.first ?? "▁"
            var scheme: PreTokenizerStep.PrependScheme = (d["add_prefix_space"] as? Bool ?? true) ? .always : .never
            if let s = d["prepend_scheme"] as? String, let parsed = PreTokenizerStep.PrependScheme(rawValue: s) { scheme = parsed }
            return [.metaspace(replacement: rep, prepend: scheme)]
        case "Replace":
            let (literal, regex) = try literalPattern(d["pattern"], in: "Replace decoder")
            guard let l = literal else { throw fail("decoder Replace with Regex", regex, supported: DecoderStep.supportedKinds) }
            return [.replace(pattern: l, content: d["content"] as? String ?? "")]
        case "ByteFallback":
            return [.byteFallback]
        case "Fuse":
            return [.fuse]
        case "Strip":
            let c = (d["content"] as? String)?.unicodeScalars.first ?? " "
            return [.strip(content: c, start: d["start"] as? Int ?? 0, stop: d["stop"] as? Int ?? 0)]
        default:
            throw fail("decoder", type, supported: DecoderStep.supportedKinds)
        }
    }

    /// The ids a TemplateProcessing post-processor puts before and after a single sequence.
    func template(_ json: Any?, pieceToID: [TokenText: Int]) throws -> (prefix: [Int], suffix: [Int]) {
        guard let p = json as? JSONObject else { return ([], []) }
        let type = p["type"] as? String
        switch type {
        case "ByteLevel":
            return ([], [])
        case "Sequence":
            var prefix: [Int] = [], suffix: [Int] = []
            for item in p["processors"] as? [Any] ?? [] {
                let (a, b) = try template(item, pieceToID: pieceToID)
                prefix += a
                suffix = b + suffix
            }
            return (prefix, suffix)
        case "TemplateProcessing":
            let specials = p["special_tokens"] as? JSONObject
            var prefix: [Int] = [], suffix: [Int] = []
            var seenSequence = false
            for item in p["single"] as? [JSONObject] ?? [] {
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let name = (item["SpecialToken"] as? JSONObject)?["id"] as? String else { continue }
                let ids = ((specials?[name] as? JSONObject)?["ids"] as? [Int]) ?? pieceToID[TokenText(name)].map { [$0] }
                guard let found = ids else {
                    throw TokenizerError("\(source): post_processor special token \(name.debugDescription) has no id")
                }
                if seenSequence { suffix += found } else { prefix += found }
            }
            return (prefix, suffix)
        default:
            throw fail("post_processor", type, supported: ["TemplateProcessing", "ByteLevel", "Sequence"])
        }
    }
}
