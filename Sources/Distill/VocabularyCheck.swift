import Tokenizers
import Transformer

/// Draft, reference and target must share the tokenizer and logit width (algorithms.md §4.7).
public enum VocabularyCheck {
    /// Throws naming both sizes and, for differing tokenizers, the first differing token id and
    /// both strings.
    public static func check(target: ModelBundle, draft: TransformerModel, draftTokenizer: Tokenizer?) throws {
        let vt = target.model.config.vocabSize, vd = draft.config.vocabSize
        if let tt = target.tokenizer, let dt = draftTokenizer, tt !== dt {
            let n = min(tt.vocabularySize, dt.vocabularySize)
            if let i = (0..<n).first(where: { tt.piece($0) != dt.piece($0) }) {
                throw DistillError.vocabulary("the target's and the draft's tokenizers differ at token id \(i): target '\(tt.piece(i))', draft '\(dt.piece(i))' (vocabularies \(tt.vocabularySize) and \(dt.vocabularySize)); speculative decoding and distillation need one tokenizer")
            }
            if tt.vocabularySize != dt.vocabularySize {
                throw DistillError.vocabulary("the target's tokenizer has \(tt.vocabularySize) tokens and the draft's \(dt.vocabularySize) (the first \(n) agree); use the same tokenizer for both")
            }
        }
        // Widths may differ by padding past the tokenizer (handled by LogitWidth), never below it.
        let vocab = target.tokenizer?.vocabularySize ?? draftTokenizer?.vocabularySize
        if let vocab {
            for (role, width) in [("target", vt), ("draft", vd)] where width < vocab {
                throw DistillError.vocabulary("the \(role) has \(width) logits per position but the tokenizer has \(vocab) tokens (target width \(vt), draft width \(vd)); it cannot produce every token")
            }
        } else if vt != vd {
            throw DistillError.vocabulary("the target has \(vt) logits per position and the draft \(vd), and without a tokenizer the padding cannot be told apart; give the models a tokenizer.json")
        }
    }
}
