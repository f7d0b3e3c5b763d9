import Tokenizers

/// The one vocabulary-compatibility rule of the package: whether a target and a draft (or a
/// teacher and a student, or a reference) can be used together, and the V both sample from.
///
/// Every command and library entry point that pairs two models uses this check (`train`,
/// `decode` in both modes, `eval`, the evaluation runner), so a pair accepted by one is accepted
/// by all.
///
/// The rule, with V the real vocabulary and W the logit width (logits per
/// position, `config.vocabSize`) of each model:
/// 1. **Both models have a tokenizer**: the tokenizers must be equal — the same number of tokens
///    and the same string for every id, compared byte-wise (`TokenText`: canonically equivalent
///    but different texts are different tokens). V is that number.
/// 2. **Only one model has a tokenizer**: the other is taken to use it (the CLI encodes and
///    decodes everything with the target's tokenizer); V is its size.
/// 3. **With a V from 1 or 2**, each width must cover it, W ≥ V. Widths may differ from V and
///    from each other only by padding past V (models often round V up to a multiple of 64 or 128,
///    and a PCL student appends its `<help>` action there): ids ≥ V are never real tokens, the
///    decoders sample from the first V logits only and distillation drops or masks the padding
///    columns (`LogitWidth`).
/// 4. **Neither model has a tokenizer**: the widths must be equal (padding cannot be told
///    apart from real tokens); V is the common width.
///
/// A pair with a padded width and no tokenizer on the draft is therefore accepted by case 2 + 3
/// everywhere (it used to pass `train` and fail `decode`).
public enum SharedVocabulary {
    /// The V both models sample from, by the rule above.
    /// - Parameters:
    ///   - targetWidth, draftWidth: logits per position of each model (W).
    ///   - targetPieces, draftPieces: token strings by id (nil when a model has no tokenizer).
    ///   - role: what the second model is, for the messages: "draft", "student", "reference".
    /// - Returns: the tokenizer's size V (cases 1–3), or the common width (case 4).
    /// - Throws: ``VocabularyMismatch`` naming both sizes and the first id whose strings differ
    ///   (with both strings), the id that exists in only one tokenizer, the width that cannot
    ///   cover the tokenizer, or the two widths without a tokenizer — each with the fix.
    public static func check(targetWidth: Int, draftWidth: Int, targetPieces: [String]?, draftPieces: [String]?,
                             role: String = "draft") throws -> Int {
        if let tp = targetPieces, let dp = draftPieces { try requireEqual(tp, dp, role: role) }
        guard let pieces = targetPieces ?? draftPieces else {
            guard targetWidth == draftWidth else {
                throw VocabularyMismatch(
                    "the target has \(targetWidth) logits per position and the \(role) \(draftWidth), and with no tokenizer "
                    + "on either model the padding cannot be told apart from real tokens; put the target's tokenizer.json "
                    + "beside one of the models or use a \(role) with the target's logit width")
            }
            return targetWidth
        }
        let V = pieces.count
        let owner = targetPieces != nil && draftPieces != nil ? "their tokenizer" : (targetPieces != nil ? "the target's tokenizer" : "the \(role)'s tokenizer")
        for (name, width) in [("target", targetWidth), (role, draftWidth)] where width < V {
            throw VocabularyMismatch(
                "the \(name) has \(width) logits per position but \(owner) has \(V) tokens "
                + "(target width \(targetWidth), \(role) width \(draftWidth)); the \(name) cannot produce every token; "
                + "use a \(name) whose vocab_size is at least \(V)")
        }
        return V
    }

    /// ``check(targetWidth:draftWidth:targetPieces:draftPieces:role:)`` for two models and their tokenizers.
    public static func check(target: TransformerModel, targetTokenizer: Tokenizer?,
                             draft: TransformerModel, draftTokenizer: Tokenizer?, role: String = "draft") throws -> Int {
        // The same tokenizer object (a draft derived from the target) is equal by construction.
        let same = targetTokenizer != nil && targetTokenizer === draftTokenizer
        return try check(targetWidth: target.config.vocabSize, draftWidth: draft.config.vocabSize,
                         targetPieces: targetTokenizer.map(pieces), draftPieces: same ? nil : draftTokenizer.map(pieces), role: role)
    }

    /// Every token string of a tokenizer, by id.
    public static func pieces(_ t: Tokenizer) -> [String] { (0..<t.vocabularySize).map { t.piece($0) } }

    /// Case 1: equal tokenizers, or an error naming the first difference.
    static func requireEqual(_ tp: [String], _ dp: [String], role: String) throws {
        let common = min(tp.count, dp.count)
        if let id = (0..<common).first(where: { TokenText(tp[$0]) != TokenText(dp[$0]) }) {
            throw VocabularyMismatch(
                "the target's tokenizer has \(tp.count) tokens and the \(role)'s \(dp.count); they first differ at id \(id): "
                + "target \(quoted(tp[id])) vs \(role) \(quoted(dp[id])); use a \(role) trained with the target's tokenizer")
        }
        if tp.count != dp.count {
            let id = common
            let (who, piece) = tp.count > dp.count ? ("target", tp[id]) : (role, dp[id])
            throw VocabularyMismatch(
                "the target's tokenizer has \(tp.count) tokens and the \(role)'s \(dp.count); id \(id) (\(quoted(piece))) exists "
                + "only in the \(who)'s; use a \(role) trained with the target's tokenizer")
        }
    }

    static func quoted(_ s: String) -> String { "\"" + s.unicodeScalars.map { $0.escaped(asASCII: false) }.joined() + "\"" }
}

/// A target/draft pair that breaks the ``SharedVocabulary`` rule; the message names the problem
/// (sizes, the first differing id and both strings) and the fix.
public struct VocabularyMismatch: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
