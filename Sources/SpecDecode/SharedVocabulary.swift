import Tokenizers
import Transformer

/// The vocabulary check of a target/draft pair: both must share the tokenizer (the same string
/// for every id) and produce logits for all of its tokens. A logit width padded past the
/// tokenizer (models often round V up) is fine: the decoders mask the padding by sampling only
/// from the first V logits.
public enum SharedVocabulary {
    /// The V both models sample from.
    /// - Parameters:
    ///   - targetWidth, draftWidth: logits per position of each model.
    ///   - targetPieces, draftPieces: token strings by id (nil when a model has no tokenizer; then
    ///     the logit widths must be equal).
    /// - Returns: the tokenizer's size (or the common width without tokenizers).
    /// - Throws: ``SpecDecodeError/vocabularyMismatch(_:)`` naming both sizes and the first id whose
    ///   strings differ (with both strings), or the width that cannot cover the tokenizer.
    public static func check(targetWidth: Int, draftWidth: Int, targetPieces: [String]?, draftPieces: [String]?) throws -> Int {
        guard let tp = targetPieces, let dp = draftPieces else {
            guard targetWidth == draftWidth else {
                throw SpecDecodeError.vocabularyMismatch(
                    "the target has \(targetWidth) logits per position and the draft \(draftWidth), and without a tokenizer "
                    + "for both the padding cannot be told apart; give both models a tokenizer.json or use a draft with the target's vocabulary")
            }
            return targetWidth
        }
        let common = min(tp.count, dp.count)
        if let id = (0..<common).first(where: { tp[$0] != dp[$0] }) {
            throw SpecDecodeError.vocabularyMismatch(
                "the target's tokenizer has \(tp.count) tokens and the draft's \(dp.count); they first differ at id \(id): "
                + "target \(quoted(tp[id])) vs draft \(quoted(dp[id])); use a draft trained with the target's tokenizer")
        }
        if tp.count != dp.count {
            let id = common
            let (who, piece) = tp.count > dp.count ? ("target", tp[id]) : ("draft", dp[id])
            throw SpecDecodeError.vocabularyMismatch(
                "the target's tokenizer has \(tp.count) tokens and the draft's \(dp.count); id \(id) (\(quoted(piece))) exists "
                + "only in the \(who)'s; use a draft trained with the target's tokenizer")
        }
        for (name, width) in [("target", targetWidth), ("draft", draftWidth)] where width < tp.count {
            throw SpecDecodeError.vocabularyMismatch(
                "the \(name) has \(width) logits per position but its tokenizer has \(tp.count) tokens "
                + "(target width \(targetWidth), draft width \(draftWidth)); the model cannot produce every token")
        }
        return tp.count
    }

    /// ``check(targetWidth:draftWidth:targetPieces:draftPieces:)`` for two models and their tokenizers.
    public static func check(target: TransformerModel, targetTokenizer: Tokenizer?,
                             draft: TransformerModel, draftTokenizer: Tokenizer?) throws -> Int {
        try check(targetWidth: target.config.vocabSize, draftWidth: draft.config.vocabSize,
                  targetPieces: targetTokenizer.map(pieces), draftPieces: draftTokenizer.map(pieces))
    }

    /// Every token string of a tokenizer, by id.
    public static func pieces(_ t: Tokenizer) -> [String] { (0..<t.vocabularySize).map { t.piece($0) } }

    static func quoted(_ s: String) -> String { "\"" + s.unicodeScalars.map { $0.escaped(asASCII: false) }.joined() + "\"" }
}
