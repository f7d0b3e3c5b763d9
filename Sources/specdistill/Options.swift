import ArgumentParser
import Foundation
import SpecDistill

/// Sampling flags shared by generate and decode (names follow llama.cpp).
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampling temperature; 0 = greedy (argmax, lowest id wins ties).")
    var temperature: Float = 0
    @Option(name: .customLong("top-k"), help: "Keep the k most probable tokens (0 = off).")
    var topK: Int = 0
    @Option(name: .customLong("top-p"), help: "Keep the smallest set of tokens with probability mass ≥ p (1 = off).")
    var topP: Float = 1
    @Option(help: "Random seed (sampling is reproducible for a given seed).")
    var seed: UInt64 = 1

    var settings: SamplingSettings { SamplingSettings(temperature: temperature, topK: topK, topP: topP) }

    func validate() throws {
        if temperature < 0 { throw ValidationError("--temperature must be ≥ 0 (0 = greedy), got \(temperature)") }
        if topK < 0 { throw ValidationError("--top-k must be ≥ 0, got \(topK)") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
    }
}

extension WeightStorage: ExpressibleByArgument {}
/// `--schedule` of pretrain and train.
extension LearningRateSchedule: ExpressibleByArgument {}
/// `pretrain --architecture`.
extension Architecture: ExpressibleByArgument {}

/// A comma-separated list of enum values (`--chain-policy first,expected`, `--off-policy
/// dataset,replay`): parsed and checked by the argument parser, duplicates dropped in order; an
/// unknown or empty item is an error listing the allowed values.
struct CommaSeparated<Element: RawRepresentable & CaseIterable & Equatable>: ExpressibleByArgument, Equatable
where Element.RawValue == String {
    var values: [Element]
    init(_ values: [Element]) { self.values = values }
    init?(argument: String) {
        var out: [Element] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let e = Element(rawValue: part.trimmingCharacters(in: .whitespaces)) else { return nil }
            if !out.contains(e) { out.append(e) }
        }
        values = out
    }
    var defaultValueDescription: String { values.map(\.rawValue).joined(separator: ",") }
    static var allValueStrings: [String] { Element.allCases.map(\.rawValue) }
}

/// `--weights` of the inference commands.
struct WeightOptions: ParsableArguments {
    @Option(help: "GGUF weights: native (matrices stay in their file types, e.g. Q4_1: less memory and fewer bytes per token) or f32 (dequantised at load). Model directories are always f32.")
    var weights: WeightStorage = .native
}

/// Loads a model path (HF directory or GGUF file), printing what was loaded to stderr, and the
/// loader's notes (a tensor type without a native kernel) even when quiet.
func loadBundle(_ path: String, quiet: Bool = false, weights: WeightStorage = .f32) throws -> ModelBundle {
    let t0 = Date()
    let bundle = try ModelBundle.load(path, weights: weights)
    for note in bundle.notes { printErr(note) }
    if !quiet {
        let c = bundle.model.config
        printErr(String(format: "loaded %@ (%@, %@, %.1fM parameters, V %d, C %d, L %d) in %.2f s", path, bundle.format,
                        c.architecture.rawValue, Double(bundle.model.parameterCount) / 1e6, c.vocabSize, c.hiddenSize,
                        c.numLayers, Date().timeIntervalSince(t0)))
    }
    return bundle
}

/// Writes a line to standard error (on rank 0 only in a data-parallel job: ``Job/printsProgress``;
/// errors are printed by main on every rank).
func printErr(_ s: String) {
    guard Job.printsProgress else { return }
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Renders text for `--chat`: the ChatML template of instruct models such as SmolLM2
/// (``ChatTemplate``; pass the model's own, from `ChatTemplate.find(forModelAt:)`, to get its
/// default system message).
func chatPrompt(_ user: String, system: String? = nil, template: ChatTemplate = .chatML) -> String {
    var messages: [ChatMessage] = []
    if let system { messages.append(ChatMessage(role: "system", content: system)) }
    messages.append(ChatMessage(role: "user", content: user))
    return template.render(messages)
}

/// Speculation that turns itself off (decode, eval): ``SpeculationSwitch``.
struct AutoOffOptions: ParsableArguments {
    @Flag(name: .customLong("auto-off"), inversion: .prefixedNo,
          help: "Fall back to plain target steps while the running estimates of alpha, c and v predict a speedup below 1× for every draft length, even with alpha one standard error higher, probing the draft now and then to switch back on when the estimates pay (default on; --no-auto-off always drafts).")
    var autoOff = true
    @Option(name: .customLong("auto-off-probe"),
            help: "Plain steps before the first probe round after speculation turns off; doubled after each probe that does not switch it back on, up to 16×.")
    var probeInterval = 16
    @Option(name: .customLong("auto-off-min-rounds"), help: "Drafted rounds after speculation (re)starts before it may turn off.")
    var minRounds = 8

    var settings: AutoOffSettings {
        autoOff ? AutoOffSettings(minRounds: minRounds, probeInterval: probeInterval, maxProbeInterval: 16 * probeInterval) : .off
    }

    func validate() throws {
        if probeInterval < 1 { throw ValidationError("--auto-off-probe must be ≥ 1, got \(probeInterval)") }
        if minRounds < 1 { throw ValidationError("--auto-off-min-rounds must be ≥ 1, got \(minRounds)") }
    }
}

/// Prompts of a JSONL file: one `{"prompt": "..."}` object per non-empty line.
func readPromptFile(_ path: String) throws -> [String] {
    let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
    guard let text = try? String(contentsOf: url, encoding: .utf8) else {
        throw ValidationError("\(path): cannot read the file (expected JSONL with one {\"prompt\": ...} object per line)")
    }
    var out: [String] = []
    for (n, line) in JSONLines.lines(text) {
        guard let object = JSONLines.object(line), let p = object["prompt"] as? String else {
            throw ValidationError("\(path):\(n): expected a JSON object with a string field \"prompt\"")
        }
        out.append(p)
    }
    if out.isEmpty { throw ValidationError("\(path): no prompts (expected {\"prompt\": ...} lines)") }
    return out
}
