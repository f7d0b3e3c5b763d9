import Formats

extension Tokenizer {
    /// llama.cpp `tokenizer.ggml.pre` names and the pre-tokenizer each stands for (`GGUFPreTokenizers`).
    public static let ggufPreTokenizers: [String: [PreTokenizerStep]] = GGUFPreTokenizers.table

    /// Builds the tokenizer stored in a GGUF file's metadata (llama.cpp's `tokenizer.ggml.*` keys).
    ///
    /// - `tokenizer.ggml.model` "gpt2": byte-level BPE with `tokenizer.ggml.merges`, the split
    ///   pattern chosen by `tokenizer.ggml.pre` (see `ggufPreTokenizers`; absent means llama.cpp's
    ///   "default" list). An unknown name is refused, not approximated.
    /// - "gemma4": BPE with merges over the text itself (no byte-level mapping): spaces as `▁`, no
    ///   prefix space, runs of newlines apart from the rest, bytes of unknown characters as `<0xNN>`.
    /// - "llama": SentencePiece-style BPE — a `▁` before the text, spaces as `▁`, merges by
    ///   `tokenizer.ggml.scores`, bytes of unknown characters as `<0xNN>` tokens.
    ///
    /// Token types (`tokenizer.ggml.token_type`): 3 control → special added token, 4 user-defined
    /// → non-special added token (both matched verbatim in text), 2 unknown, 6 byte, 1/5 normal.
    /// - Throws: `TokenizerError` naming the missing key or unsupported model / pre-tokenizer.
    public convenience init(gguf metadata: [String: GGUFValue]) throws {
        func key(_ k: String) -> GGUFValue? { metadata["tokenizer.ggml." + k] }
        guard let kind = key("model")?.string else {
            throw TokenizerError("GGUF metadata has no tokenizer.ggml.model; this file carries no tokenizer — use the model's tokenizer.json")
        }
        guard let pieces = key("tokens")?.strings, !pieces.isEmpty else {
            throw TokenizerError("GGUF metadata has no tokenizer.ggml.tokens string array")
        }
        let V = pieces.count
        guard V <= Self.maxVocabularySize else {
            throw TokenizerError("GGUF tokenizer.ggml.tokens has \(V) entries, more than \(Self.maxVocabularySize)")
        }
        let types = key("token_type")?.ints ?? [Int](repeating: 1, count: V)
        guard types.count == V else {
            throw TokenizerError("GGUF tokenizer.ggml.token_type has \(types.count) entries for \(V) tokens")
        }
        func optionalID(_ k: String) throws -> Int? {
            guard let v = key(k) else { return nil }
            guard let id = v.int, id >= 0 else { return nil }
            guard id < V else { throw TokenizerError("GGUF tokenizer.ggml.\(k) = \(id) is outside the vocabulary (size \(V))") }
            return id
        }
        let bos = try optionalID("bos_token_id"), eos = try optionalID("eos_token_id")
        let pad = try optionalID("padding_token_id")
        var unknown = try optionalID("unknown_token_id")
        if unknown == nil { unknown = types.firstIndex(of: 2) }
        let added = (0..<V).compactMap { id -> AddedToken? in
            switch types[id] {
            case 3: return AddedToken(id: id, content: pieces[id], special: true)
            case 4: return AddedToken(id: id, content: pieces[id], special: false)
            default: return nil
            }
        }

        switch kind {
        case "gpt2":
            let preName = key("pre")?.string ?? "default"
            guard let pre = Self.ggufPreTokenizers[preName] else {
                throw TokenizerError("GGUF tokenizer.ggml.pre \(preName.debugDescription) (the pre-tokenizer of the model's byte-level BPE vocabulary) is not supported, and an approximation would give different token ids than the model was trained on. Fix: load the model's Hugging Face directory (its tokenizer.json) instead of the GGUF vocabulary, or add \(preName.debugDescription) to GGUFPreTokenizers with its tokenizer.json pipeline. Supported: \(Self.ggufPreTokenizers.keys.sorted().joined(separator: ", "))")
            }
            guard let merges = key("merges")?.strings else {
                throw TokenizerError("GGUF tokenizer.ggml.model is gpt2 but tokenizer.ggml.merges is missing")
            }
            let model = try BPEModel(pieces: pieces, mergeStrings: merges, source: "GGUF tokenizer.ggml.merges",
                                     byteFallback: false, unknownID: nil,
                                     ignoreMerges: ["llama3", "llama-v3", "llama-bpe", "falcon3"].contains(preName))
            // llama.cpp's defaults when the key is absent: BOS for the Llama-3 family only.
            let addBOS = key("add_bos_token")?.bool ?? ["llama3", "llama-v3", "llama-bpe", "falcon3"].contains(preName)
            let addEOS = key("add_eos_token")?.bool ?? false
            try self.init(model: model, preTokenizers: pre, decoders: [.byteLevel], addedTokens: added,
                          prefixIDs: addBOS ? bos.map { [$0] } ?? [] : [], suffixIDs: addEOS ? eos.map { [$0] } ?? [] : [],
                          bos: bos, eos: eos, pad: pad)
        case "gemma4":
            guard let merges = key("merges")?.strings else {
                throw TokenizerError("GGUF tokenizer.ggml.model is gemma4 but tokenizer.ggml.merges is missing")
            }
            let model = try BPEModel(pieces: pieces, mergeStrings: merges, source: "GGUF tokenizer.ggml.merges",
                                     byteFallback: true, unknownID: unknown, ignoreMerges: false)
            // llama.cpp always adds BOS for Gemma 4 (it overrides add_bos_token = false).
            let addEOS = key("add_eos_token")?.bool ?? false
            try self.init(model: model, normalizers: [.replace(pattern: " ", content: "▁")],
                          preTokenizers: [.split(.regex("[^\n]+|[\n]+"), behavior: .isolated, invert: false)],
                          decoders: [.replace(pattern: "▁", content: " "), .byteFallback, .fuse],
                          addedTokens: added, prefixIDs: bos.map { [$0] } ?? [], suffixIDs: addEOS ? eos.map { [$0] } ?? [] : [],
                          bos: bos, eos: eos, pad: pad)
        case "llama":
            guard let scores = key("scores")?.doubles, scores.count == V, scores.allSatisfy(\.isFinite) else {
                throw TokenizerError("GGUF tokenizer.ggml.model is llama but tokenizer.ggml.scores is missing or not \(V) finite floats")
            }
            let ranking = ScoreRanking(pieces: pieces, pieceToID: TokenText.firstIDs(pieces), scores: scores.map(Float.init),
                                       mergeable: types.map { $0 == 1 || $0 == 4 || $0 == 5 })
            let model = BPEModel(pieces: pieces, merges: .scores(ranking), byteFallback: true, unknownID: unknown,
                                 fuseUnknown: true, ignoreMerges: false)
            let addBOS = key("add_bos_token")?.bool ?? true
            let addEOS = key("add_eos_token")?.bool ?? false
            let prefixSpace = key("add_space_prefix")?.bool ?? true
            try self.init(model: model,
                          normalizers: (prefixSpace ? [.prepend("▁")] : []) + [.replace(pattern: " ", content: "▁")],
                          preTokenizers: [],
                          decoders: [.replace(pattern: "▁", content: " "), .byteFallback, .fuse] + (prefixSpace ? [.strip(content: " ", start: 1, stop: 0)] : []),
                          addedTokens: added,
                          prefixIDs: addBOS ? bos.map { [$0] } ?? [] : [], suffixIDs: addEOS ? eos.map { [$0] } ?? [] : [],
                          bos: bos, eos: eos, pad: pad)
        default:
            throw TokenizerError("GGUF tokenizer.ggml.model \(kind.debugDescription) is not supported; supported: gpt2 (byte-level BPE), llama (SentencePiece BPE with scores), gemma4 (BPE with merges on ▁-escaped text)")
        }
    }
}

extension BPEModel {
    /// A BPE model from "left right" merge strings (rank = position in the list).
    init(pieces: [String], mergeStrings: [String], source: String, byteFallback: Bool, unknownID: Int?,
         ignoreMerges: Bool) throws {
        let map = TokenText.firstIDs(pieces)
        var table = MergeTable()
        for (rank, s) in mergeStrings.enumerated() {
            // llama.cpp's rule: the first space byte after the first byte (a left token may
            // itself be " "); bytes, not Characters (TokenText.splitMerge).
            guard let (l, r) = TokenText.splitMerge(s, minimumLeftBytes: 1) else {
                throw TokenizerError("\(source): merge \(rank) \(s.debugDescription) is not \"left right\"")
            }
            guard let li = map[TokenText(l)], let ri = map[TokenText(r)], let m = map[TokenText(l + r)] else {
                throw TokenizerError("\(source): merge \(rank) \(s.debugDescription) uses a token missing from the vocabulary")
            }
            table.add(left: li, right: ri, merged: m, rank: rank)
        }
        self.init(pieces: pieces, merges: .table(table), byteFallback: byteFallback,
                  unknownID: unknownID, fuseUnknown: false, ignoreMerges: ignoreMerges)
    }
}
