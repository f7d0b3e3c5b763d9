import Foundation
import Tensor
import Tokenizers
import Transformer

/// Where distillation sequences come from (DistillSpec §3.2 / GKD): the dataset's own responses,
/// responses sampled from the teacher, from the current student (on-policy), or a per-batch mixture.
public enum DataSourceKind: String, Codable, CaseIterable, Sendable {
    case fixed, teacher, student, mixed
}

/// Samples a continuation of `prompt` from `model` with its KV cache (no gradient: generation is a
/// separate, inference-only pass; the loss is computed afterwards by teacher forcing). The loop is
/// ``Generator``'s; the prompt is left-truncated so that the response fits the context.
public final class ResponseSampler {
    public let model: TransformerModel
    public let settings: SamplingSettings
    public let maxNewTokens: Int
    public let stopTokens: Set<Int>
    private let generator: Generator

    public init(model: TransformerModel, settings: SamplingSettings, maxNewTokens: Int, stopTokens: Set<Int>, maxT: Int) {
        self.model = model; self.settings = settings; self.maxNewTokens = maxNewTokens; self.stopTokens = stopTokens
        generator = Generator(model: model, settings: settings, seed: 0, maxT: maxT)
    }

    /// The sampled response ids (ending with a stop token when one was drawn).
    public func sample(prompt: [Int], rng: inout RandomGenerator) throws -> [Int] {
        let p = Array(prompt.suffix(max(1, generator.session.maxT - maxNewTokens - 1)))
        var out: [Int] = []
        try generator.generate(prompt: p, maxTokens: maxNewTokens, stopTokens: stopTokens, rng: &rng) { out.append($0) }
        return out
    }
}

/// The on-policy fraction λ of `--data-source mixed` as a function of the optimizer step (a warm
/// start: DistillSpec and GKD train on fixed data first and on the student's own samples later).
///
/// `λ(s) = start` for `s < warmupSteps`, then linear from `start` to `end` over `rampSteps` steps,
/// then `end`: `λ(s) = start + (end − start) · min(1, (s − warmupSteps) / rampSteps)` (`rampSteps`
/// = 0 jumps to `end` after the warm-up). A constant λ is `start == end`.
public struct LambdaSchedule: Codable, Equatable, Sendable {
    public var start: Double
    public var end: Double
    public var warmupSteps: Int
    public var rampSteps: Int

    public init(start: Double, end: Double, warmupSteps: Int = 0, rampSteps: Int = 0) {
        self.start = start; self.end = end; self.warmupSteps = warmupSteps; self.rampSteps = rampSteps
    }

    /// A constant λ.
    public static func constant(_ lambda: Double) -> LambdaSchedule { LambdaSchedule(start: lambda, end: lambda) }

    /// λ at optimizer step `step` (0-based: the step about to run).
    public func lambda(atStep step: Int) -> Double {
        if step < warmupSteps { return start }
        if rampSteps <= 0 { return end }
        return start + (end - start) * min(1, Double(step - warmupSteps) / Double(rampSteps))
    }

    /// - Throws: ``DistillError/settings(_:)`` naming the offending value.
    public func validate() throws {
        guard start >= 0 && start <= 1 && end >= 0 && end <= 1 else {
            throw DistillError.settings("on-policy fractions must be in [0, 1], got start \(start), end \(end)")
        }
        guard warmupSteps >= 0 && rampSteps >= 0 else {
            throw DistillError.settings("lambda warm-up and ramp steps must be ≥ 0, got \(warmupSteps) and \(rampSteps)")
        }
    }
}

/// Batches for distillation from a prompt dataset. Every random choice (which examples, the
/// mixture coin, sampled tokens) comes from the trainer's generator, so `--resume` replays the
/// same batches.
public final class DistillationSource: BatchSource {
    public let dataset: PromptDataset
    public let tokenizer: Tokenizer
    public let kind: DataSourceKind
    /// Probability of student-generated data per batch for `.mixed` (GKD's lmbda) at the first step.
    public var lambda: Double { schedule.start }
    /// λ by optimizer step for `.mixed`.
    public let schedule: LambdaSchedule
    /// Micro-batches per optimizer step (maps the batch count to the step of the schedule).
    public let gradAccum: Int
    /// Batches drawn so far; a resumed run sets it to `step × gradAccum` (see ``init(dataset:tokenizer:kind:schedule:gradAccum:startStep:teacher:student:)``)
    /// so that λ, like every random choice, replays exactly.
    public private(set) var batchesDrawn: Int
    /// The kind the last batch was drawn from.
    public private(set) var lastKind: DataSourceKind?
    let teacherSampler: ResponseSampler?
    let studentSampler: ResponseSampler?
    /// Teacher samples are drawn once per prompt and reused (the teacher does not change).
    private var teacherCache: [Int: [Int]] = [:]
    private var promptCache: [Int: [Int]] = [:]
    private let pad: Int
    /// Seed of the per-example generators for teacher samples.
    public var teacherSeed: UInt64 = 0x7EAC4E2
    /// Batches drawn from each kind so far (for the run log).
    public private(set) var counts: [String: Int] = [:]

    public convenience init(dataset: PromptDataset, tokenizer: Tokenizer, kind: DataSourceKind, lambda: Double,
                            teacher: ResponseSampler?, student: ResponseSampler?) throws {
        try self.init(dataset: dataset, tokenizer: tokenizer, kind: kind, schedule: .constant(lambda), teacher: teacher, student: student)
    }

    /// - Parameters:
    ///   - schedule: λ by optimizer step for `.mixed`.
    ///   - gradAccum: micro-batches (``nextBatch(B:T:rng:)`` calls) per optimizer step.
    ///   - startStep: the optimizer step of the first batch (the resumed step; 0 for a new run).
    public init(dataset: PromptDataset, tokenizer: Tokenizer, kind: DataSourceKind, schedule: LambdaSchedule,
                gradAccum: Int = 1, startStep: Int = 0, teacher: ResponseSampler?, student: ResponseSampler?) throws {
        try schedule.validate()
        self.dataset = dataset; self.tokenizer = tokenizer; self.kind = kind; self.schedule = schedule
        self.gradAccum = max(1, gradAccum); self.batchesDrawn = startStep * max(1, gradAccum)
        self.teacherSampler = teacher; self.studentSampler = student
        self.pad = tokenizer.padTokenID ?? tokenizer.eosTokenID ?? 0
        if kind == .fixed || (kind == .mixed && teacher == nil) {
            if let i = dataset.examples.firstIndex(where: { $0.response == nil }) {
                throw DistillError.data("example \(i + 1) has no response; fixed data needs responses (or use --data-source teacher/student)")
            }
        }
        if (kind == .teacher) && teacher == nil { throw DistillError.settings("teacher-generated data needs the teacher") }
        if (kind == .student || kind == .mixed) && student == nil { throw DistillError.settings("on-policy data needs the student sampler") }
    }

    func promptIDs(_ i: Int) -> [Int] {
        if let p = promptCache[i] { return p }
        let p = dataset.promptIDs(i, tokenizer: tokenizer)
        promptCache[i] = p
        return p
    }

    /// The kind of the next micro-batch (one `rng` draw for `.mixed`), counted.
    private func drawKind(rng: inout RandomGenerator) -> DataSourceKind {
        var which = kind
        if kind == .mixed {
            let lambda = schedule.lambda(atStep: batchesDrawn / gradAccum)
            which = rng.uniformDouble() < lambda ? .student : (teacherSampler != nil ? .teacher : .fixed)
        }
        batchesDrawn += 1
        counts[which.rawValue, default: 0] += 1
        return which
    }

    /// Advances `rng` and the counts exactly as ``nextBatch(B:T:rng:)`` would — the kind draw, one
    /// draw per example and one seed per student sample — without sampling anything.
    public func skipBatch(B: Int, T: Int, rng: inout RandomGenerator) throws {
        let which = drawKind(rng: &rng)
        for _ in 0..<B {
            _ = rng.next()
            if which == .student { _ = rng.next() }
        }
    }

    public func nextBatch(B: Int, T: Int, rng: inout RandomGenerator) throws -> TrainingBatch {
        let which = drawKind(rng: &rng)
        lastKind = which
        var tokens = [Int32](repeating: Int32(pad), count: B * T), targets = [Int32](repeating: -1, count: B * T)
        for b in 0..<B {
            let i = Int(rng.next() % UInt64(dataset.examples.count))
            let prompt = promptIDs(i)
            let response: [Int]
            switch which {
            case .fixed, .mixed:
                response = dataset.responseIDs(i, tokenizer: tokenizer)
            case .teacher:
                if let r = teacherCache[i] { response = r } else {
                    // A generator per example (not the trainer's), so a resumed run that lost this
                    // cache regenerates exactly the same teacher sample.
                    var own = RandomGenerator(seed: teacherSeed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
                    let r = try teacherSampler!.sample(prompt: prompt, rng: &own)
                    teacherCache[i] = r
                    response = r
                }
            case .student:
                // A generator seeded by one draw, so the trainer's RNG advances by the same amount
                // however long the sample is (a data-parallel rank can skip it: skipBatch).
                var own = RandomGenerator(seed: rng.next())
                response = try studentSampler!.sample(prompt: prompt, rng: &own)
            }
            packExample(prompt: prompt, response: response, T: T, pad: pad, tokens: &tokens, targets: &targets, row: b)
        }
        return TrainingBatch(B: B, T: T, tokens: tokens, targets: targets)
    }
}
