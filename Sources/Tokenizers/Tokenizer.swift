import Formats
import Foundation

/// A BPE tokenizer with the Hugging Face `tokenizers` pipeline: added-token matching →
/// normalization → pre-tokenization → BPE per piece → post-processing (BOS/EOS); decoding runs
/// the decoder steps over the token strings.
///
/// Build one from a tokenizer.json (`init(tokenizerJSON:)`, `init(url:)`), from the tokenizer
/// metadata of a GGUF file (`init(gguf:)`), or by training (`BPETrainer`). Instances are
/// immutable apart from an internal, locked cache of encoded words, so they can be shared.
public final class Tokenizer: @unchecked Sendable {
    /// The BPE model (vocabulary and merges).
    public let model: BPEModel
    public let normalizers: [NormalizerStep]
    public let preTokenizers: [PreTokenizerStep]
    public let decoders: [DecoderStep]
    public let addedTokens: [AddedToken]
    /// Ids put before / after the text by `encode(_:addSpecialTokens: true)` (TemplateProcessing).
    public let prefixIDs: [Int]
    public let suffixIDs: [Int]
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let padTokenID: Int?
    /// Ids of the special tokens (skipped by `decode(_:skipSpecialTokens: true)`).
    public let specialTokenIDs: Set<Int>

    let compiledPreTokenizers: [CompiledPreTokenizerStep]
    let matcher: AddedTokenMatcher
    /// Token strings for ids past the model vocabulary (added tokens only).
    let addedPieces: [Int: String]
    /// Ids of the added tokens by content (compared byte-wise, `TokenText`).
    let addedPieceToID: [TokenText: Int]
    public let vocabularySize: Int

    private var cache: [[Unicode.Scalar]: [Int]] = [:]
    private let cacheLock = NSLock()
    /// Words longer than this are not cached; the cache is emptied when it reaches `cacheLimit`.
    private let cacheWordLimit = 64
    private let cacheLimit = 100_000

    /// Builds a tokenizer from its parts.
    /// - Parameters:
    ///   - prefixIDs, suffixIDs: the ids `encode` adds around the text when asked to.
    ///   - bos, eos, pad: the ids of those roles, when the vocabulary has them.
    /// - Throws: `TokenizerError` when a Split regex cannot be compiled or an id is out of range.
    public init(model: BPEModel, normalizers: [NormalizerStep] = [], preTokenizers: [PreTokenizerStep],
                decoders: [DecoderStep], addedTokens: [AddedToken] = [], prefixIDs: [Int] = [],
                suffixIDs: [Int] = [], bos: Int? = nil, eos: Int? = nil, pad: Int? = nil) throws {
        self.model = model
        self.normalizers = normalizers
        self.preTokenizers = preTokenizers
        self.decoders = decoders
        self.addedTokens = addedTokens
        self.prefixIDs = prefixIDs
        self.suffixIDs = suffixIDs
        self.bosTokenID = bos
        self.eosTokenID = eos
        self.padTokenID = pad
        self.compiledPreTokenizers = try preTokenizers.map { try CompiledPreTokenizerStep($0) }
        self.matcher = AddedTokenMatcher(addedTokens)
        var extra: [Int: String] = [:]
        var extraIDs: [TokenText: Int] = [:]
        for t in addedTokens where t.id < 0 || t.id >= Self.maxVocabularySize {
            throw TokenizerError("added token \(ErrorText.name(t.content).debugDescription) has id \(t.id), outside 0..<\(Self.maxVocabularySize); the tokenizer file is corrupt")
        }
        for t in addedTokens {
            if t.id >= model.pieces.count { extra[t.id] = t.content }
            extraIDs[TokenText(t.content)] = t.id
        }
        self.addedPieces = extra
        self.addedPieceToID = extraIDs
        self.vocabularySize = max(model.pieces.count, (extra.keys.max() ?? -1) + 1)
        self.specialTokenIDs = Set(addedTokens.filter(\.special).map(\.id))
        for id in prefixIDs + suffixIDs + [bos, eos, pad].compactMap({ $0 }) where !(0..<vocabularySize).contains(id) {
            throw TokenizerError("special token id \(id) is outside the vocabulary (size \(vocabularySize)); check the BOS/EOS/PAD ids and the post-processor")
        }
    }

    /// Largest vocabulary accepted (the largest real ones are ≈ 256k tokens): ids read from a file
    /// beyond it are corruption, and a table that large is never allocated from one.
    public static let maxVocabularySize = 1 << 24

    /// Whether `encode` puts the BOS token first when adding special tokens.
    public var addBOS: Bool { bosTokenID != nil && prefixIDs.first == bosTokenID }
    /// Whether `encode` puts the EOS token last when adding special tokens.
    public var addEOS: Bool { eosTokenID != nil && suffixIDs.last == eosTokenID }

    /// The token string of `id` (byte-level characters, `▁` or `<0xNN>` as stored in the vocabulary).
    public func piece(_ id: Int) -> String {
        precondition((0..<vocabularySize).contains(id), "token id \(id) outside the vocabulary (size \(vocabularySize))")
        if id < model.pieces.count { return model.pieces[id] }
        return addedPieces[id] ?? ""
    }

    /// The id of a token string, nil when it is not in the vocabulary. Token texts compare
    /// byte-wise (`TokenText`): `"a\u{300}"` and `"\u{E0}"` are different tokens.
    public func id(of piece: String) -> Int? {
        let key = TokenText(piece)
        return addedPieceToID[key] ?? model.pieceToID[key]
    }

    public func isSpecial(_ id: Int) -> Bool { specialTokenIDs.contains(id) }

    /// The token ids of `text`.
    /// - Parameter addSpecialTokens: add the post-processor's ids (usually BOS) around the text.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        if addSpecialTokens { out.append(contentsOf: prefixIDs) }
        for segment in matcher.split(text) {
            switch segment {
            case .token(let id):
                out.append(id)
            case .text(let s, let startsText):
                encodeSegment(String(s), startsText: startsText, into: &out)
            }
        }
        if addSpecialTokens { out.append(contentsOf: suffixIDs) }
        return out
    }

    /// The pre-tokens of `text` (after added-token matching, normalization and pre-tokenization),
    /// in the pre-tokenizer's character set (byte-level characters for byte-level tokenizers).
    /// Added tokens appear as their content.
    public func preTokenize(_ text: String) -> [String] {
        var out: [String] = []
        for segment in matcher.split(text) {
            switch segment {
            case .token(let id):
                out.append(piece(id))
            case .text(let s, let startsText):
                for word in preTokenizeSegment(String(s), startsText: startsText) where !word.isEmpty {
                    out.append(String(String.UnicodeScalarView(word)))
                }
            }
        }
        return out
    }

    private func preTokenizeSegment(_ segment: String, startsText: Bool) -> [[Unicode.Scalar]] {
        var text = segment
        for n in normalizers { text = n.apply(text) }
        var pieces = [Array(text.unicodeScalars)]
        for step in compiledPreTokenizers { pieces = step.apply(pieces, firstSegment: startsText) }
        return pieces
    }

    private func encodeSegment(_ segment: String, startsText: Bool, into out: inout [Int]) {
        for word in preTokenizeSegment(segment, startsText: startsText) where !word.isEmpty {
            if word.count <= cacheWordLimit {
                cacheLock.lock()
                let hit = cache[word]
                cacheLock.unlock()
                if let ids = hit { out.append(contentsOf: ids); continue }
                var ids: [Int] = []
                model.encode(word: word, into: &ids)
                out.append(contentsOf: ids)
                cacheLock.lock()
                if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
                cache[word] = ids
                cacheLock.unlock()
            } else {
                model.encode(word: word, into: &out)
            }
        }
    }

    /// The text of `ids`: token strings through the decoder steps, concatenated. Ids without a
    /// token (outside the vocabulary: a model's padded output rows, as in Qwen2.5's 151,936 rows
    /// for 151,665 tokens) contribute nothing, as in Hugging Face `tokenizers`.
    /// - Parameter skipSpecialTokens: leave out special tokens (BOS, EOS, chat markers).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids where id >= 0 && id < vocabularySize && !(skipSpecialTokens && specialTokenIDs.contains(id)) {
            tokens.append(piece(id))
        }
        if decoders.isEmpty { return tokens.joined(separator: " ") }
        for step in decoders { tokens = step.apply(tokens) }
        return tokens.joined()
    }
}
