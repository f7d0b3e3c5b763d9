import Distill
import Formats
import Foundation
import SpecDecode
import Transformer

/// Settings of an evaluation (recorded in the results).
public struct EvaluationSettings: Codable, Equatable, Sendable {
    /// New tokens per prompt.
    public var maxTokens = 64
    /// Temperature / top-k / top-p of both decoders; 0 = greedy.
    public var sampling = SamplingSettings.greedy
    /// Acceptance rule of speculative decoding (nil: greedy at temperature 0, else rejection).
    public var acceptance: AcceptanceRule?
    public var draft = DraftSettings()
    public var seed: UInt64 = 1
    /// How prompts become model input (``PromptTemplate/plain`` or ``PromptTemplate/chatml``).
    public var template = PromptTemplate.plain
    /// Teacher-forced acceptance: sequence length T and batch size B of the forward passes.
    public var teacherForcedContext = 256
    public var teacherForcedBatch = 2
    /// Run model-written code to score pass@1, in the bubblewrap sandbox (``CodeSandbox``).
    public var runCode = false
    /// With ``runCode``: run it without the sandbox (`--unsafe-run-code`; nil in results written
    /// before the sandbox existed, which ran code unsandboxed).
    public var unsafeRunCode: Bool?
    /// Seconds per HumanEval program.
    public var codeTimeLimit = 10.0
    /// Plain fallback while speculation does not pay (``SpeculationSwitch``); nil = off (and in
    /// results written before the rule existed).
    public var autoOff: AutoOffSettings?

    public init() {}

    /// The speculative decoder's configuration.
    public var configuration: SpeculativeConfiguration {
        SpeculativeConfiguration(sampling: sampling, acceptance: acceptance, draft: draft, seed: seed,
                                 autoOff: autoOff ?? .off)
    }

    /// - Throws: ``EvaluationError/settings(_:)`` naming the offending value.
    public func validate() throws {
        if maxTokens < 1 { throw EvaluationError.settings("max-tokens must be ≥ 1, got \(maxTokens)") }
        if teacherForcedContext < 2 || teacherForcedBatch < 1 {
            throw EvaluationError.settings("teacher-forced context must be ≥ 2 and batch ≥ 1, got T \(teacherForcedContext), B \(teacherForcedBatch)")
        }
        if !(codeTimeLimit > 0) { throw EvaluationError.settings("the code time limit must be positive, got \(codeTimeLimit)") }
        do {
            try draft.validate()
            try autoOff?.validate()
            try configuration.acceptance.validate(temperature: sampling.temperature)
        } catch let e as SpecDecodeError {
            throw EvaluationError.settings("\(e)")
        }
    }
}

/// Teacher-forced acceptance of a draft on a task's reference responses (algorithms.md §2.5).
public struct TeacherForcedResult: Codable, Equatable, Sendable {
    /// Mean Σ min(p, q) at ``temperature`` and mean 1[argmax p = argmax q].
    public var sampling: Double
    public var greedy: Double
    /// Mean forward KL(p ‖ q) per response token.
    public var forwardKL: Double
    /// Response tokens counted.
    public var tokens: Int
    public var temperature: Float
    public init(sampling: Double, greedy: Double, forwardKL: Double, tokens: Int, temperature: Float) {
        self.sampling = sampling; self.greedy = greedy; self.forwardKL = forwardKL; self.tokens = tokens
        self.temperature = temperature
    }
}

/// Plain decoding of a task's prompts with the target alone.
public struct PlainResult: Codable, Equatable, Sendable {
    public var statistics: PlainStatistics
    /// Mean task metric (nil when it was not computed, e.g. pass@1 without running code).
    public var metric: Double?
    /// Per example: the output text and its score.
    public var outputs: [String]
    public var scores: [Double?]
    /// Outputs that stopped at `maxTokens` before a stop token: the task metric scores them as
    /// cut (GSM8K's final number may not be reached). Nil in results written before it was kept.
    public var reachedMaxTokens: Int?
}

/// One draft on one task.
public struct DraftTaskResult: Codable, Equatable, Sendable {
    public var name: String
    /// Nil when the task's examples have no reference responses.
    public var teacherForced: TeacherForcedResult?
    /// Speculative decoding, summed over the prompts, with the plain decode as its baseline.
    public var statistics: SpeculativeStatistics
    public var derived: DerivedStatistics
    public var metric: Double?
    /// At temperature 0: whether every speculative output equals the plain one token for token
    /// (nil when sampling, where outputs differ by design).
    public var outputsIdenticalToPlain: Bool?
    public var mismatches: [String]
    public var outputs: [String]
    public var scores: [Double?]
}

/// All drafts on one task.
public struct TaskResult: Codable, Equatable, Sendable {
    public var name: String
    public var task: EvaluationTask
    public var source: String
    public var examples: Int
    public var metric: TaskMetricKind
    public var plain: PlainResult
    public var drafts: [DraftTaskResult]

    public func draft(_ name: String) -> DraftTaskResult? { drafts.first { $0.name == name } }
}

/// Which drafts ran, and from what.
public struct DraftInfo: Codable, Equatable, Sendable {
    public var name: String
    /// A model path, or the layers taken from the target.
    public var source: String
    public var parameters: Int
    /// Rows of the trimmed output layer used while decoding (nil: the full vocabulary).
    public var outputRows: Int?
    public init(name: String, source: String, parameters: Int, outputRows: Int? = nil) {
        self.name = name; self.source = source; self.parameters = parameters; self.outputRows = outputRows
    }
}

/// The document `specdistill eval --out` writes and `specdistill plot` reads.
public struct EvaluationResults: Codable, Equatable, Sendable {
    public var version = 1
    /// ISO 8601 time the evaluation finished.
    public var date: String
    public var target: String
    public var targetParameters: Int
    public var threads: Int
    public var settings: EvaluationSettings
    public var drafts: [DraftInfo]
    public var tasks: [TaskResult]

    public init(date: String, target: String, targetParameters: Int, threads: Int, settings: EvaluationSettings,
                drafts: [DraftInfo], tasks: [TaskResult]) {
        self.date = date; self.target = target; self.targetParameters = targetParameters; self.threads = threads
        self.settings = settings; self.drafts = drafts; self.tasks = tasks
    }

    /// Draft names in order (the table's rows).
    public var methods: [String] { drafts.map(\.name) }

    /// A draft's speculative statistics summed over every task (per-position acceptance overall).
    public func combinedStatistics(_ name: String) -> SpeculativeStatistics {
        var s = SpeculativeStatistics()
        for t in tasks { if let d = t.draft(name) { s.add(d.statistics) } }
        return s
    }

    /// Every mismatch between speculative and plain outputs at temperature 0, labelled.
    public var mismatches: [String] {
        tasks.flatMap { t in t.drafts.flatMap { d in d.mismatches.map { "\(t.name) / \(d.name): \($0)" } } }
    }

    /// JSON with sorted keys (for `--out`).
    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try e.encode(self)
    }

    /// Writes ``json()`` to `url` with ``AtomicFile``: a run killed at any moment leaves the
    /// previous file or the new one, never a torn one.
    /// - Throws: ``EvaluationError/data(_:)`` naming the file when it cannot be written.
    public func write(to url: URL) throws {
        do { try AtomicFile.write(json(), to: url) } catch {
            throw EvaluationError.data("\(url.path): cannot write the results (\(error)); check that the directory exists and is writable")
        }
    }

    /// Reads a results file written by ``json()``.
    public static func load(_ url: URL) throws -> EvaluationResults {
        guard let data = try? Data(contentsOf: url) else {
            throw EvaluationError.data("\(url.path): cannot read the results file; write one with specdistill eval --out FILE.json")
        }
        do { return try JSONDecoder().decode(EvaluationResults.self, from: data) } catch {
            throw EvaluationError.data("\(url.path): not an evaluation results file (\(error)); write one with specdistill eval --out FILE.json")
        }
    }
}
