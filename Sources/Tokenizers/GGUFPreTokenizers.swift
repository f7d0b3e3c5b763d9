/// llama.cpp's `tokenizer.ggml.pre` names and the pre-tokenizer each stands for, written as the
/// models' own Hugging Face pre-tokenizer pipelines (the oracle of llama.cpp's test vectors, which
/// `VocabVectorTests` reproduces exactly). Split regexes are the strings of llama.cpp's
/// `llm_tokenizer_bpe` (src/llama-vocab.cpp) and the models' tokenizer.json files; they run in
/// `ScalarRegex` or, for the common families, in the hand-written `KnownPattern` scanners.
///
/// Where the Hugging Face pipeline differs from llama.cpp's regex list, the pipeline is followed:
/// Falcon splits digits *after* the byte-level step (so " 3" is "Ġ" + "3" and the byte-level
/// character "½" of U+00BD is a digit), which llama.cpp's list leaves out.
enum GGUFPreTokenizers {
    static func split(_ pattern: SplitPattern, _ behavior: SplitBehavior = .isolated) -> PreTokenizerStep {
        .split(pattern, behavior: behavior, invert: false)
    }
    static func regex(_ source: String, _ behavior: SplitBehavior = .isolated) -> PreTokenizerStep {
        split(.regex(source), behavior)
    }
    /// Byte-level mapping after the splits (no regex of its own).
    static let bytes = PreTokenizerStep.byteLevel(addPrefixSpace: false, useRegex: false)

    /// GPT-2: the GPT-2 pattern inside the byte-level step.
    static let gpt2: [PreTokenizerStep] = [.byteLevel(addPrefixSpace: false, useRegex: true)]
    /// StarCoder, Refact, Command-R, SmolLM: each digit alone, then GPT-2.
    static let digitsThenGPT2: [PreTokenizerStep] = [split(.digits(individual: true)), .byteLevel(addPrefixSpace: false, useRegex: true)]
    static func known(_ p: KnownPattern) -> [PreTokenizerStep] { [split(.known(p)), bytes] }

    /// Qwen3.5: Qwen2's pattern with combining marks (`\p{M}`) inside letter runs.
    static let qwen35Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Runs DeepSeek keeps together: U+4E00–9FA5 (CJK), U+0800–4E00, U+AC00–D7FF (Hangul).
    static let deepSeekCJK = "[一-龥ࠀ-一가-\u{D7FF}]+"

    /// DeepSeek Coder (tokenizer.json: Split ×4, Digits individual, ByteLevel).
    static let deepSeekCoder: [PreTokenizerStep] = [
        regex("[\r\n]"), regex(#"\s?\p{L}+"#), regex(#"\s?\p{P}+"#), regex(deepSeekCJK),
        split(.digits(individual: true)), bytes,
    ]
    /// DeepSeek LLM (tokenizer.json: Split ×5 with explicit letter and punctuation ranges, Digits).
    static let deepSeekLLM: [PreTokenizerStep] = [
        regex("[\r\n]"),
        regex("\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"),
        regex("\\s?[!-/:-~！-／：-～‘-‟\u{3000}-。]+"),
        regex(#"\s+$"#), regex(deepSeekCJK), split(.digits(individual: false)), bytes,
    ]
    /// Falcon (tokenizer.json: Punctuation contiguous, ByteLevel with the GPT-2 pattern, Digits,
    /// Split of three ASCII digits). Hugging Face's punctuation is Unicode P plus all of ASCII's.
    static let falcon: [PreTokenizerStep] = [
        regex(#"[\p{P}$+<=>^`|~]"#, .contiguous), .byteLevel(addPrefixSpace: false, useRegex: true),
        split(.digits(individual: false)), regex("[0-9][0-9][0-9]"),
    ]
    /// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_DEFAULT` list, used for a gpt2-model file whose
    /// `tokenizer.ggml.pre` is absent or "default" (older conversions: GPT-NeoX, Aquila).
    static let llamaCppDefault: [PreTokenizerStep] = [
        regex(#"[\p{P}$\+<=>\^~\|]+"#), split(.known(.gpt2)), split(.digits(individual: false)),
        regex("[0-9][0-9][0-9]"), bytes,
    ]

    /// The table. Names that llama.cpp maps to the same regex list share an entry.
    static let table: [String: [PreTokenizerStep]] = [
        "default": llamaCppDefault,
        "gpt-2": gpt2, "gpt2": gpt2, "phi-2": gpt2, "roberta-bpe": gpt2, "olmo": gpt2, "mpt": gpt2,
        "llama3": known(.llama3), "llama-v3": known(.llama3), "llama-bpe": known(.llama3), "falcon3": known(.llama3),
        "smaug-bpe": known(.llama3),
        "qwen2": known(.qwen2), "megrez": known(.qwen2),
        "qwen35": [regex(qwen35Pattern), bytes],
        "starcoder": digitsThenGPT2, "smollm": digitsThenGPT2, "refact": digitsThenGPT2, "command-r": digitsThenGPT2,
        "deepseek-coder": deepSeekCoder, "deepseek-llm": deepSeekLLM,
        "falcon": falcon,
    ]
}
