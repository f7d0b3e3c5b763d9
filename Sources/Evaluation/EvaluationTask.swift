import Distill
import Foundation

/// The task families of the evaluation (issue 7; the data files of `Scripts/get-data TASK`) and
/// the metric each is scored with.
public enum EvaluationTask: String, Codable, CaseIterable, Sendable {
    /// Arithmetic reasoning: exact match of the final number.
    case gsm8k, asdiv
    /// Code: pass@1 of the HumanEval tests (only when running code is allowed).
    case humaneval
    /// Summarisation: ROUGE-L F1 against the reference summary.
    case xsum
    /// Instruction following (translation instructions): ROUGE-L F1 against the reference.
    case translate

    public var metric: TaskMetricKind {
        switch self {
        case .gsm8k, .asdiv: return .exactMatch
        case .humaneval: return .passAt1
        case .xsum, .translate: return .rougeL
        }
    }

    /// Parses a task name; the error lists the known ones.
    public init(name: String, context: String) throws {
        guard let t = EvaluationTask(rawValue: name.lowercased()) else {
            throw EvaluationError.data("\(context): unknown task \"\(name)\"; known tasks: "
                                       + EvaluationTask.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = t
    }
}

/// How a task's outputs are scored.
public enum TaskMetricKind: String, Codable, Sendable {
    /// Fraction of outputs whose final number equals the reference answer (``ArithmeticAnswer``).
    case exactMatch = "exact_match"
    /// Mean ROUGE-L F1 over lower-cased word tokens (``RougeL``).
    case rougeL = "rouge_l"
    /// Fraction of completions that pass the problem's tests (``CodeExecution``).
    case passAt1 = "pass@1"
}

/// Errors of the evaluation a user can cause: bad data files, bad settings, models that do not
/// fit together. The message names the file or setting and the fix.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case data(String)
    case settings(String)
    case model(String)
    public var description: String {
        switch self { case .data(let m), .settings(let m), .model(let m): return m }
    }
}

/// One evaluation example: a line of a task's JSONL file
/// `{"task", "prompt", "response", "answer", "test", "entry_point"}` (only task — or a task given
/// on the command line — and prompt are required).
public struct EvaluationExample: Codable, Equatable, Sendable {
    public var task: EvaluationTask
    /// The user text, instruction included, without a chat template.
    public var prompt: String
    /// The reference response: teacher-forced acceptance is measured on it; ROUGE-L compares to it.
    public var response: String?
    /// Arithmetic: the final answer (when absent, read from the response's final number).
    public var answer: String?
    /// HumanEval: the test code defining `check(candidate)`, and the function's name.
    public var test: String?
    public var entryPoint: String?

    enum CodingKeys: String, CodingKey {
        case task, prompt, response, answer, test
        case entryPoint = "entry_point"
    }

    public init(task: EvaluationTask, prompt: String, response: String? = nil, answer: String? = nil, test: String? = nil,
                entryPoint: String? = nil) {
        self.task = task; self.prompt = prompt; self.response = response; self.answer = answer
        self.test = test; self.entryPoint = entryPoint
    }

    /// The reference answer of an arithmetic example: `answer`, else the response's final number.
    public var referenceAnswer: String? {
        if let answer { return ArithmeticAnswer.normalize(answer) }
        return response.flatMap(ArithmeticAnswer.extract)
    }
}

/// The examples of one task, read from a JSONL file.
public struct TaskData: Sendable {
    /// The column name in tables (the task's name).
    public var name: String
    public var task: EvaluationTask
    public var examples: [EvaluationExample]
    /// Where the examples came from.
    public var source: String

    public init(name: String, task: EvaluationTask, examples: [EvaluationExample], source: String) {
        self.name = name; self.task = task; self.examples = examples; self.source = source
    }

    /// Reads a task file. `task` (from `TASK=FILE`) labels lines without a "task" field; a line
    /// whose "task" differs from it, a file mixing tasks, a line without a string "prompt", an
    /// arithmetic line without an answer or response, or a HumanEval line without test and
    /// entry_point is an error naming the file and line.
    /// - Parameter limit: keep only the first `limit` examples (nil: all).
    public static func load(_ url: URL, task: EvaluationTask?, limit: Int? = nil) throws -> TaskData {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw EvaluationError.data("\(url.path): no such file; pass --data [TASK=]FILE with a JSONL file of "
                                       + "{\"task\", \"prompt\", \"response\", …} lines (Scripts/get-data TASK writes them)")
        }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw EvaluationError.data("\(url.path): cannot read the file as UTF-8 text")
        }
        var examples: [EvaluationExample] = []
        var fileTask = task
        for (n, s) in JSONLines.lines(text) {
            if let limit, examples.count >= limit { break }
            let at = "\(url.path):\(n)"
            guard let object = JSONLines.object(s) else {
                throw EvaluationError.data("\(at): not a JSON object; each line must be {\"task\": ..., \"prompt\": ..., \"response\": ...}")
            }
            guard let prompt = object["prompt"] as? String else {
                throw EvaluationError.data("\(at): missing string field \"prompt\" (keys: \(object.keys.sorted().joined(separator: ", ")))")
            }
            var lineTask: EvaluationTask?
            if let name = object["task"] as? String { lineTask = try EvaluationTask(name: name, context: at) }
            switch (fileTask, lineTask) {
            case (nil, nil):
                throw EvaluationError.data("\(at): no \"task\" field; add one to every line or name the task on the command line: --data gsm8k=\(url.path)")
            case (nil, let t?): fileTask = t
            case (let f?, let t?) where f != t:
                throw EvaluationError.data("\(at): task \"\(t.rawValue)\" in a file of task \"\(f.rawValue)\"; give one task per file")
            default: break
            }
            let example = EvaluationExample(task: fileTask!, prompt: prompt, response: object["response"] as? String,
                                            answer: stringValue(object["answer"]), test: object["test"] as? String,
                                            entryPoint: object["entry_point"] as? String)
            try validate(example, at: at)
            examples.append(example)
        }
        guard let t = fileTask, !examples.isEmpty else {
            throw EvaluationError.data("\(url.path): no examples (expected JSONL lines with a \"prompt\")")
        }
        return TaskData(name: t.rawValue, task: t, examples: examples, source: url.path)
    }

    /// Answers may be written as JSON numbers.
    static func stringValue(_ v: Any?) -> String? {
        if let s = v as? String { return s }
        if let n = v as? NSNumber { return n.stringValue }
        return nil
    }

    static func validate(_ e: EvaluationExample, at: String) throws {
        switch e.task.metric {
        case .exactMatch where e.referenceAnswer == nil:
            throw EvaluationError.data("\(at): an arithmetic example needs \"answer\" or a response ending in a number "
                                       + "(\"The final answer is: N\")")
        case .passAt1 where e.test == nil || e.entryPoint == nil:
            throw EvaluationError.data("\(at): a HumanEval example needs \"test\" (code defining check(candidate)) and \"entry_point\"")
        case .rougeL where e.response == nil:
            throw EvaluationError.data("\(at): a \(e.task.rawValue) example needs the reference \"response\" for ROUGE-L")
        default: break
        }
    }

    /// The examples that have responses, as a ``PromptDataset`` whose prompts are rendered with
    /// `template` (for teacher-forced acceptance on the references).
    public func referenceDataset(template: PromptTemplate) -> PromptDataset? {
        let pairs = examples.compactMap { e in e.response.map { PromptExample(prompt: e.prompt, response: $0) } }
        return pairs.isEmpty ? nil : PromptDataset(examples: pairs, template: template)
    }
}
