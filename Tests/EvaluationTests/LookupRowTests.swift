import Evaluation
import Foundation
import SpecDecode
import XCTest

/// Lookup rows in the evaluation (issue 18): a lookup-only row (no draft model) and a chain of
/// lookup before a model draft sit beside model drafts with the same columns; at temperature 0
/// their outputs equal the plain outputs, they have no teacher-forced acceptance (there is no
/// fixed q to force), and their per-source statistics survive the JSON round trip.
final class LookupRowTests: XCTestCase {
    func testLookupAndChainRows() throws {
        let t = RunnerTests.target
        var rows = [NamedDraft(name: "one-layer", model: try t.truncatedCopy(layers: [0]), tokenizer: nil, source: "layer 0")]
        var chain = rows[0]
        chain.name = "lookup+one-layer"; chain.lookup = LookupSettings(nMin: 1, nMax: 3, chain: .expected)
        rows.append(chain)
        rows.append(NamedDraft(name: "lookup", model: nil, tokenizer: nil, source: "prompt lookup",
                               lookup: LookupSettings(nMin: 1, nMax: 3), lookupCorpus: RunnerTests.tokenizer.encode(RunnerTests.texts[0])))
        var settings = EvaluationSettings()
        settings.maxTokens = 24
        settings.draft = DraftSettings(draftMax: 3)
        settings.teacherForcedContext = 64
        let runner = try EvaluationRunner(target: t, tokenizer: RunnerTests.tokenizer, targetName: "tiny", drafts: rows,
                                          settings: settings, stopTokens: [])
        let examples = (0..<4).map { i in
            EvaluationExample(task: .gsm8k, prompt: "What is \(i) plus \(i + 1)? \(i) plus", response: "The final answer is: \(2 * i + 1)")
        }
        let r = try runner.run(tasks: [TaskData(name: "gsm8k", task: .gsm8k, examples: examples, source: "memory")])
        let task = try XCTUnwrap(r.tasks.first)
        XCTAssertEqual(task.drafts.map(\.name), ["one-layer", "lookup+one-layer", "lookup"])
        XCTAssertNotNil(task.draft("one-layer")?.teacherForced)
        for name in ["lookup+one-layer", "lookup"] {
            let d = try XCTUnwrap(task.draft(name))
            XCTAssertEqual(d.outputs, task.plain.outputs, name)
            XCTAssertEqual(d.outputsIdenticalToPlain, true, name)
            XCTAssertNil(d.teacherForced, name)
            XCTAssertNotNil(d.derived.measuredSpeedup, name)
            let lookup = try XCTUnwrap(d.statistics.sources?["lookup"], name)
            XCTAssertEqual(d.statistics.sources!.values.map(\.drafted).reduce(0, +), d.statistics.drafted, name)
            XCTAssertGreaterThan(lookup.rounds, 0, "\(name): lookup must propose on these repetitive prompts")
        }
        XCTAssertNil(task.draft("lookup")?.statistics.sources?["model"])
        XCTAssertEqual(r.drafts.first { $0.name == "lookup" }?.parameters, 0)
        let decoded = try JSONDecoder().decode(EvaluationResults.self, from: r.json())
        XCTAssertEqual(decoded, r)
        XCTAssertEqual(ResultsTables.summary(r).rows.map(\.first), ["one-layer", "lookup+one-layer", "lookup"])
    }
}
