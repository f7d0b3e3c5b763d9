import Foundation

/// Scores one output of a task with its metric (``TaskMetricKind``): 1 or 0 for exact match and
/// pass@1, the F1 in [0, 1] for ROUGE-L; nil when the metric is not computed (pass@1 without
/// permission to run code).
public struct TaskScorer: Sendable {
    /// How code is run; nil leaves pass@1 uncomputed.
    public var codeExecution: CodeExecution?

    public init(codeExecution: CodeExecution? = nil) { self.codeExecution = codeExecution }

    public func score(_ example: EvaluationExample, output: String) throws -> Double? {
        switch example.task.metric {
        case .exactMatch:
            guard let answer = example.referenceAnswer else { return nil }
            return ArithmeticAnswer.extract(output) == answer ? 1 : 0
        case .rougeL:
            guard let reference = example.response else { return nil }
            return RougeL.score(candidate: output, reference: reference).f1
        case .passAt1:
            guard let runner = codeExecution, let test = example.test, let entry = example.entryPoint else { return nil }
            let program = CodeExecution.program(prompt: example.prompt, completion: output, test: test, entryPoint: entry)
            return try runner.run(program: program).passed ? 1 : 0
        }
    }

    /// The mean of the scores, nil when any is nil (a metric is reported only when complete).
    public static func mean(_ scores: [Double?]) -> Double? {
        let values = scores.compactMap { $0 }
        guard !values.isEmpty, values.count == scores.count else { return nil }
        return values.reduce(0, +) / Double(values.count)
    }
}
