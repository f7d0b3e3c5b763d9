import Foundation
import SpecDecode

/// A table of strings rendered as aligned plain text or as GitHub markdown.
public struct TextTable: Equatable, Sendable {
    public var header: [String]
    public var rows: [[String]]
    /// Right-align columns after the first (numbers).
    public init(header: [String], rows: [[String]]) {
        precondition(rows.allSatisfy { $0.count == header.count }, "TextTable: every row needs \(header.count) cells")
        self.header = header; self.rows = rows
    }

    /// Columns padded to their widest cell (first column left-aligned, others right-aligned),
    /// a dashed rule under the header.
    public var text: String {
        let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in
                let pad = String(repeating: " ", count: widths[c] - s.count)
                return c == 0 ? s + pad : pad + s
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// A markdown table (pipes in cells escaped).
    public var markdown: String {
        func line(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        let rule = "|" + header.indices.map { $0 == 0 ? "---|" : "---:|" }.joined()
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}

/// The tables of an evaluation.
///
/// - ``summary(_:)``: shaped like the AdaSPEC paper's main table — rows are methods (drafts),
///   columns are tasks, each cell "α / S×": acceptance while decoding (accepted / (accepted +
///   rejections)) and the measured wall-clock speedup over plain decoding of the same prompts.
/// - ``details(_:)``: one table per task with every measurement: teacher-forced acceptance
///   (greedy and sampling forms), α while decoding, tokens per target call, c (draft step /
///   plain target step), v (verification call / plain target step), the predicted speedups
///   τ/(γc + 1) (verification as cheap as a step) and τ/(γc + v) (the full cost model, measured
///   c and v) and the measured one, the task metric
///   of the speculative outputs, and whether they equal the plain outputs (temperature 0).
public enum ResultsTables {
    public static func summary(_ r: EvaluationResults) -> TextTable {
        let rows = r.methods.map { m in
            [m] + r.tasks.map { t -> String in
                guard let d = t.draft(m) else { return "-" }
                return num(d.derived.alphaPerJudged, 3) + " / " + speedup(d.derived.measuredSpeedup)
            }
        }
        return TextTable(header: ["method"] + r.tasks.map(\.name), rows: rows)
    }

    public static func details(_ t: TaskResult) -> TextTable {
        let metric = t.metric.rawValue
        var rows = t.drafts.map { d -> [String] in
            let identical = d.outputsIdenticalToPlain.map { $0 ? "yes" : "NO (\(d.mismatches.count))" } ?? "n/a"
            return [d.name, num(d.teacherForced?.greedy, 3), num(d.teacherForced?.sampling, 3), num(d.derived.alphaPerJudged, 3),
                    num(d.derived.tokensPerTargetCall, 2), num(d.derived.baselineCostRatio, 3),
                    num(d.derived.verifyCostInTargetSteps, 2), speedup(d.derived.predictedSpeedupFromBaseline),
                    speedup(d.derived.predictedSpeedupWithVerifyCost), speedup(d.derived.measuredSpeedup),
                    num(d.metric, 3), identical]
        }
        let tokensPerSecond = t.plain.statistics.secondsPerToken.map { String(format: "%.1f tok/s", 1 / $0) } ?? "-"
        rows.append(["target alone", "", "", "", "1.00", "", "", "", "", tokensPerSecond, num(t.plain.metric, 3), ""])
        var header = ["method", "TF greedy", "TF sampling", "α decode", "tokens/call", "c", "v", "S τ/(γc+1)", "S τ/(γc+v)", "measured S", metric, "= plain"]
        // Auto-off: the share of tokens from plain fallback steps and the switches off / on.
        if t.drafts.contains(where: { $0.statistics.fallback != nil }) {
            header.append("plain fallback")
            for i in t.drafts.indices {
                let s = t.drafts[i].statistics
                rows[i].append(s.fallback == nil ? "off" : num(t.drafts[i].derived.fallbackFraction.map { $0 * 100 }, 0)
                               + "% (\(s.switchesOff) off, \(s.switchesOn) on)")
            }
            rows[rows.count - 1].append("")
        }
        return TextTable(header: header, rows: rows)
    }

    /// One line describing the settings (under the summary's title).
    public static func settingsLine(_ r: EvaluationResults) -> String {
        let s = r.settings
        let sampling = s.sampling.isGreedy ? "greedy (temperature 0)" : "temperature \(s.sampling.temperature)"
        let stop = s.draft.costAwareStop ? ", p-min auto" : s.draft.draftPMin > 0 ? ", p-min \(s.draft.draftPMin)" : ""
        return "target \(r.target); \(sampling), \(s.configuration.acceptance.label) acceptance, draft-max \(s.draft.draftMax) "
            + "(\(s.draft.schedule.rawValue)\(stop)\(s.autoOff?.enabled == true && !s.draft.costAwareStop ? ", auto-off" : "")), \(s.maxTokens) new tokens, template \(s.template.rawValue), \(r.threads) threads; \(r.date)"
    }

    /// Everything as plain text: the summary, then per-task details, then any mismatches.
    public static func text(_ r: EvaluationResults) -> String {
        var s = "Acceptance while decoding α / measured speedup (rows: drafts, columns: tasks)\n" + settingsLine(r) + "\n\n"
        s += summary(r).text
        for t in r.tasks {
            s += "\n\(t.name) (\(t.examples) prompts, \(t.source)); TF = teacher-forced on the reference responses, "
                + "c = draft step / plain target step\(cutNote(t, r.settings))\n"
            s += details(t).text
        }
        s += mismatchText(r)
        return s
    }

    /// Everything as markdown.
    public static func markdown(_ r: EvaluationResults) -> String {
        var s = "**Acceptance while decoding α / measured speedup** (rows: drafts, columns: tasks). " + settingsLine(r) + "\n\n"
        s += summary(r).markdown
        for t in r.tasks {
            s += "\n**\(t.name)** (\(t.examples) prompts). TF = teacher-forced on the reference responses; "
                + "c = draft step / plain target step; S = speedup over plain decoding\(cutNote(t, r.settings)).\n\n"
            s += details(t).markdown
        }
        s += mismatchText(r)
        return s
    }

    /// "; N of M plain outputs stopped at --max-tokens K before ending (…)" when any did: the
    /// metric column then scores cut answers (exact match reads 0 for an answer whose final line
    /// was never written), and a longer --max-tokens measures the task.
    static func cutNote(_ t: TaskResult, _ s: EvaluationSettings) -> String {
        guard let cut = t.plain.reachedMaxTokens, cut > 0 else { return "" }
        return "; \(cut) of \(t.examples) plain outputs stopped at --max-tokens \(s.maxTokens) before ending "
            + "(the \(t.metric.rawValue) column scores them as cut)"
    }

    static func mismatchText(_ r: EvaluationResults) -> String {
        let m = r.mismatches
        guard !m.isEmpty else { return "" }
        return "\nFAIL: at temperature 0 speculative and plain outputs must be identical; \(m.count) differ:\n"
            + m.map { "  " + $0 }.joined(separator: "\n") + "\n"
    }

    static func num(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "-" }
    static func speedup(_ v: Double?) -> String { v.map { String(format: "%.2f×", $0) } ?? "-" }
}
