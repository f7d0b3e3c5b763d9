import Foundation
import SpecDecode
import Transformer
import XCTest

/// Help-aware decoding on transition models (algorithms.md §5.4): the budget-0 guard gives the
/// student's plain output, an always-asking student gives the teacher's greedy output, the
/// teacher's cache is caught up exactly, and the guard keeps the teacher fraction within budget.
final class HelpDecoderTests: XCTestCase {
    let V = 7
    let prompts: [[Int]] = [[3], [0, 1, 2], [6, 6, 5, 4, 1, 0, 2, 3, 3, 1, 5, 6, 0, 2, 4]]

    /// A student of width V + 1 (help = V) whose help logit is `helpShift` above a random row.
    func student(seed: UInt64, helpShift: Float) -> TransitionModel {
        let base = TransitionModel.random(V: V + 1, order: 2, seed: seed)
        var table = base.table
        for row in 0..<(table.count / (V + 1)) { table[row * (V + 1) + V] += helpShift }
        return TransitionModel(width: V + 1, order: 2, table: table)
    }

    func teacher() -> TransitionModel { TransitionModel.random(V: V, order: 2, seed: 41) }

    func decode(_ s: TransitionModel, _ t: TransitionModel, budget: Double, enforce: Bool, prompt: [Int], maxTokens: Int = 40,
                stops: Set<Int> = [], onHelp: (Int) -> Void = { _ in }) throws -> HelpOutput {
        let d = try HelpDecoder(student: s, teacher: t, helpTokenID: V,
                                configuration: HelpConfiguration(sampling: .greedy, budget: budget, enforceBudget: enforce), vocabularySize: V)
        return try d.decode(prompt: prompt, maxTokens: maxTokens, stopTokens: stops, onHelp: onHelp)
    }

    /// The help threshold: 0 asks at every position (the teacher's greedy text), above 1 never
    /// asks (the student's greedy text over the vocabulary alone), and in between asks exactly
    /// where the student's p(<help>) — recomputed here in Double from the table — reaches it.
    func testHelpThresholdAsksExactlyWhereTheStudentIsUnsure() throws {
        let s = student(seed: 9, helpShift: 0.5)
        func run(_ threshold: Double, _ prompt: [Int]) throws -> HelpOutput {
            let d = try HelpDecoder(student: s.fresh(), teacher: teacher(), helpTokenID: V,
                                    configuration: HelpConfiguration(sampling: .greedy, budget: 1, helpThreshold: threshold), vocabularySize: V)
            return try d.decode(prompt: prompt, maxTokens: 30)
        }
        var asked = 0, total = 0
        for prompt in prompts {
            let teacherGreedy = try PlainDecoder(model: teacher(), sampling: .greedy, seed: 1, vocabularySize: V).decode(prompt: prompt, maxTokens: 30)
            XCTAssertEqual(try run(0, prompt).tokens, teacherGreedy.tokens)
            let never = try run(1.01, prompt)
            XCTAssertEqual(never.statistics.teacherTokens, 0)
            // The middle: replay the path and check each decision against p(help) from the table.
            let out = try run(0.2, prompt)
            var context = prompt
            for (i, token) in out.tokens.enumerated() {
                // The order-2 table row after (previous, last) — TransitionModel.context(at:).
                let n = context.count, ctx = (n > 1 ? context[n - 2] : 0) * (V + 1) + context[n - 1]
                let row = Array(s.table[(ctx * (V + 1))..<((ctx + 1) * (V + 1))])
                let m = row.map(Double.init).max()!
                let e = row.map { Foundation.exp(Double($0) - m) }
                let pHelp = e[V] / e.reduce(0, +)
                XCTAssertEqual(out.origins[i] == .target, pHelp >= 0.2, "prompt \(prompt) token \(i)")
                if pHelp < 0.2 { XCTAssertEqual(token, (0..<V).max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }) }
                asked += pHelp >= 0.2 ? 1 : 0; total += 1
                context.append(token)
            }
        }
        XCTAssertGreaterThan(asked, 0); XCTAssertLessThan(asked, total)
    }

    func testBudgetZeroWithGuardIsPlainStudent() throws {
        let s = student(seed: 5, helpShift: 1.5)
        var guarded = 0
        for prompt in prompts {
            let plain = try PlainDecoder(model: s.fresh(), sampling: .greedy, seed: 1, vocabularySize: V).decode(prompt: prompt, maxTokens: 40)
            let t = teacher()
            let out = try decode(s.fresh(), t, budget: 0, enforce: true, prompt: prompt)
            XCTAssertEqual(out.tokens, plain.tokens, "prompt \(prompt)")
            XCTAssertEqual(out.statistics.teacherCalls, 0)
            XCTAssertEqual(out.statistics.teacherTokens, 0)
            XCTAssertEqual(t.length, 0, "the teacher is never run")
            guarded += out.statistics.guardedHelps
        }
        XCTAssertGreaterThan(guarded, 0, "the student wanted help somewhere, so the guard was exercised")
    }

    func testAlwaysAskingReproducesTeacherGreedy() throws {
        let s = student(seed: 6, helpShift: 100)
        for prompt in prompts {
            let plain = try PlainDecoder(model: teacher(), sampling: .greedy, seed: 1).decode(prompt: prompt, maxTokens: 40)
            let out = try decode(s.fresh(), teacher(), budget: 1, enforce: false, prompt: prompt)
            XCTAssertEqual(out.tokens, plain.tokens, "prompt \(prompt)")
            XCTAssertEqual(out.origins, [TokenOrigin](repeating: .target, count: 40))
            XCTAssertEqual(out.statistics.teacherTokens, 40)
            XCTAssertEqual(out.statistics.teacherCalls, 40)
            XCTAssertEqual(out.statistics.studentCalls, 40)
            XCTAssertEqual(out.statistics.teacherFraction, 1)
        }
    }

    /// After each catch-up the teacher's cache holds exactly prompt + the tokens emitted so far,
    /// reached with one append of the unseen span.
    func testTeacherCacheCatchUpIsExact() throws {
        let s = student(seed: 7, helpShift: 1.5)
        var sawSpan = false
        for prompt in prompts {
            let t = teacher()
            var lengths: [Int] = []
            var contents: [[Int]] = []
            let out = try decode(s.fresh(), t, budget: 1, enforce: false, prompt: prompt) { n in
                lengths.append(n); contents.append(t.tokens)
            }
            let helpPositions = out.origins.indices.filter { out.origins[$0] == .target }
            XCTAssertGreaterThan(helpPositions.count, 0)
            XCTAssertLessThan(helpPositions.count, out.tokens.count)
            XCTAssertEqual(lengths, helpPositions.map { prompt.count + $0 })
            for (k, i) in helpPositions.enumerated() { XCTAssertEqual(contents[k], prompt + out.tokens[..<i]) }
            // One prefill (all prompt tokens but the last, when there are any) plus one append per help.
            let prefill = prompt.count > 1 ? 1 : 0
            XCTAssertEqual(t.appendSizes.count, prefill + out.statistics.teacherCalls)
            XCTAssertEqual(out.statistics.teacherPositions, t.appendSizes.dropFirst(prefill).reduce(0, +))
            sawSpan = sawSpan || t.appendSizes.dropFirst(prefill).contains { $0 > 1 }
            // Every teacher token is the teacher's greedy choice after that context.
            for i in helpPositions {
                let ref = try PlainDecoder(model: teacher(), sampling: .greedy, seed: 1).decode(prompt: prompt + out.tokens[..<i], maxTokens: 1)
                XCTAssertEqual(out.tokens[i], ref.tokens[0])
            }
        }
        XCTAssertTrue(sawSpan, "some catch-up appended several tokens at once")
    }

    func testGuardKeepsRunningFractionWithinBudget() throws {
        let s = student(seed: 8, helpShift: 100)
        for budget in [0.1, 0.25, 0.5] {
            let out = try decode(s.fresh(), teacher(), budget: budget, enforce: true, prompt: [1, 2])
            let n = out.tokens.count
            XCTAssertEqual(out.statistics.teacherTokens, Int((budget * Double(n)).rounded(.down)), "budget \(budget)")
            var help = 0
            for (i, o) in out.origins.enumerated() {
                if o == .target { help += 1 }
                XCTAssertLessThanOrEqual(Double(help), budget * Double(i + 1) + 1e-9)
            }
        }
    }

    func testStopsAtStopTokenAndValidates() throws {
        let s = student(seed: 9, helpShift: 1.5)
        let full = try decode(s.fresh(), teacher(), budget: 1, enforce: false, prompt: [0, 1])
        let stop = full.tokens[5]
        let first = full.tokens.firstIndex(of: stop)!
        let out = try decode(s.fresh(), teacher(), budget: 1, enforce: false, prompt: [0, 1], stops: [stop])
        XCTAssertEqual(out.tokens, Array(full.tokens[...first]))
        XCTAssertEqual(out.stopReason, .endOfSequence)
        XCTAssertThrowsError(try HelpDecoder(student: s.fresh(), teacher: teacher(), helpTokenID: V + 1,
                                             configuration: HelpConfiguration(budget: 0.2)))
        XCTAssertThrowsError(try HelpDecoder(student: s.fresh(), teacher: teacher(), helpTokenID: V,
                                             configuration: HelpConfiguration(budget: 1.5)))
    }
}
