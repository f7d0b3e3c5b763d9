// A small program using the library.
//   swift run -c release BasicUsage                       (a random tiny model, no files needed)
//   swift run -c release BasicUsage MODEL "prompt text"   (a HF directory or .gguf file)
import Foundation
import SpecDistill

Threads.configure()
let arguments = CommandLine.arguments.dropFirst()
if let path = arguments.first {
    let bundle = try ModelBundle.load(path)
    let tokenizer = try bundle.requireTokenizer()
    let generator = Generator(model: bundle.model, settings: .greedy, seed: 1)
    var text = StreamingDecoder(tokenizer: tokenizer)
    let prompt = arguments.dropFirst().first ?? "The capital of France is"
    print(prompt, terminator: "")
    try generator.generate(prompt: tokenizer.encode(prompt), maxTokens: 16) { token in
        print(text.add(token), terminator: "")
    }
    print(text.finish())
} else {
    // A randomly initialised Llama-style model, greedy decoding through the KV cache.
    let config = ModelConfig.preset("tiny", vocabSize: 64, context: 32)!
    let model = try TransformerModel(config: config)
    model.initialize(seed: 1)
    var tokens: [Int] = []
    try Generator(model: model, settings: .greedy, seed: 1).generate(prompt: [1, 2, 3], maxTokens: 8) { tokens.append($0) }
    print("tiny model (\(model.parameterCount) parameters) continues [1, 2, 3] with \(tokens)")

    // Speculative decoding with a one-layer draft cut from the same model: greedy output is the
    // target's own greedy output, token for token.
    let draft = try model.truncatedCopy(layers: [0])
    let decoder = try SpeculativeDecoder(
        target: SessionModel(model: model), draft: SessionModel(model: draft),
        configuration: SpeculativeConfiguration(sampling: .greedy, draft: DraftSettings(draftMax: 3)))
    let out = try decoder.decode(prompt: [1, 2, 3], maxTokens: 8)
    let derived = out.statistics.derived
    print("speculative: \(out.tokens), identical: \(out.tokens == tokens), alpha \(derived.alphaPerJudged.map { String($0) } ?? "-")")
}
