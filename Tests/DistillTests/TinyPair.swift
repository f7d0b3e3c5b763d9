import Distill
import Tensor
import Tokenizers
import Transformer

/// A tiny teacher/student pair with a real BPE tokenizer trained on a five-sentence corpus, and the
/// corpus as prompt (first two words) / response (the rest) examples. Shared by the data-source
/// and the speedup-forecast tests.
enum TinyPair {
    static let corpus = ["the cat sat on the mat", "a dog ran in the park", "one two three four five six",
                         "the quick brown fox jumps over the lazy dog", "seven eight nine ten"]

    /// - Parameter peakedTeacher: scale the teacher's output layer by 60, so that its distributions
    ///   are peaked and argmax agreement is informative.
    static func make(peakedTeacher: Bool) throws -> (Tokenizer, TransformerModel, TransformerModel, PromptDataset) {
        let tok = try BPETrainer(vocabularySize: 280).train(corpus)
        let config = ModelConfig.preset("tiny", vocabSize: tok.vocabularySize, context: 32)!
        let teacher = try TransformerModel(config: config)
        teacher.initialize(seed: 1)
        if peakedTeacher {
            Elementwise.scale(teacher.parameters["lm_head.weight"].pointer, by: 60, count: teacher.parameters["lm_head.weight"].count)
        }
        let student = try TransformerModel(config: config)
        student.initialize(seed: 2)
        return (tok, teacher, student, dataset(corpus))
    }

    /// Each sentence as a prompt (its first two words) and a response (the rest, after a space).
    static func dataset(_ sentences: [String]) -> PromptDataset {
        let examples = sentences.map { s -> PromptExample in
            let w = s.split(separator: " ")
            return PromptExample(prompt: w.prefix(2).joined(separator: " "), response: " " + w.dropFirst(2).joined(separator: " "))
        }
        return PromptDataset(examples: examples, template: .plain)
    }
}
