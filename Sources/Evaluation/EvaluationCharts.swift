import Foundation
import Plots

/// The charts of an evaluation and of training runs, as SVG documents (``Plots``).
public enum EvaluationCharts {
    /// Grouped bars: acceptance while decoding (α) by task (groups) and method (bars), y in [0, 1].
    public static func acceptanceByTask(_ r: EvaluationResults) -> BarChart {
        BarChart(title: "Acceptance while decoding, by method and task", xLabel: "task",
                 yLabel: "α = accepted / (accepted + rejections)", categories: r.tasks.map(\.name), series: r.methods,
                 values: r.methods.map { m in r.tasks.map { $0.draft(m)?.derived.alphaPerJudged } }, yMax: 1)
    }

    /// Grouped bars: measured speedup over plain decoding by task and method.
    public static func speedupByTask(_ r: EvaluationResults) -> BarChart {
        var chart = BarChart(title: "Measured speedup over the target alone", xLabel: "task",
                             yLabel: "speedup (plain s/token ÷ speculative s/token)", categories: r.tasks.map(\.name),
                             series: r.methods, values: r.methods.map { m in r.tasks.map { $0.draft(m)?.derived.measuredSpeedup } },
                             yMax: 1)
        chart.valueFormat = "%.2f×"
        chart.referenceLine = 1
        chart.referenceLabel = "1× (target alone)"
        return chart
    }

    /// Lines: acceptance at each draft position (accepted / judged at position i), one line per
    /// method, over all tasks together.
    public static func acceptanceByPosition(_ r: EvaluationResults) -> LineChart {
        let series = r.methods.map { m -> Series in
            let d = r.combinedStatistics(m).derived
            let points = d.acceptanceAtPosition.enumerated().compactMap { i, a in a.map { Series.Point(x: Double(i + 1), y: $0) } }
            return Series(name: m, points: points)
        }
        let gamma = Double(max(r.settings.draft.draftMax, 1))
        var chart = LineChart(title: "Acceptance by draft position (\(r.tasks.map(\.name).joined(separator: ", ")))",
                              xLabel: "draft position i (1 = first drafted token of a round)",
                              yLabel: "P(accept token i | tokens before accepted)", series: series,
                              xRange: 1...max(gamma, 2), yRange: 0...1)
        chart.integerX = true
        return chart
    }

    /// Scatter: predicted speedup τ/(γc + v) (measured c and v) against the measured one, a point per
    /// (method, task).
    public static func predictedVersusMeasured(_ r: EvaluationResults) -> ScatterChart {
        var points: [ScatterChart.Point] = []
        for t in r.tasks {
            for d in t.drafts {
                if let p = d.derived.predictedSpeedupWithVerifyCost, let m = d.derived.measuredSpeedup {
                    points.append(ScatterChart.Point(label: t.name, x: p, y: m, group: d.name))
                }
            }
        }
        return ScatterChart(title: "Speedup: predicted τ/(γc + v) vs measured", xLabel: "predicted speedup",
                            yLabel: "measured speedup", points: points, identityLine: true)
    }

    /// Lines: training loss against step per run (running mean over `window` steps, window =
    /// max(1, steps / 50) by default, named in the axis label).
    public static func trainingLoss(_ runs: [TrainingCurves], window: Int? = nil) -> LineChart {
        let w = window ?? max(1, (runs.map(\.steps.count).max() ?? 0) / 50)
        let series = runs.map { run in
            Series(name: run.name, points: run.smoothedLoss(window: w).map { Series.Point(x: $0.step, y: $0.loss) })
        }
        return LineChart(title: "Training loss", xLabel: "optimizer step",
                         yLabel: w > 1 ? "loss (running mean of \(w) steps)" : "loss", series: series, markers: false)
    }

    /// Lines: teacher-forced greedy acceptance on the held-out set against step per run (from
    /// `evaluations.jsonl`); nil when no run has evaluations.
    public static func trainingAcceptance(_ runs: [TrainingCurves]) -> LineChart? {
        let series = runs.filter { !$0.evaluations.isEmpty }.map { run in
            Series(name: run.name, points: run.evaluations.compactMap { e in
                e.acceptanceGreedy.map { Series.Point(x: Double(e.step), y: $0) }
            })
        }
        guard !series.isEmpty else { return nil }
        return LineChart(title: "Teacher-forced acceptance during training (held-out data)", xLabel: "optimizer step",
                         yLabel: "mean 1[argmax p = argmax q]", series: series, yRange: 0...1)
    }

    /// Writes the charts of `results` (when given) and of `curves` into `directory` as SVG files.
    /// - Returns: the paths written.
    @discardableResult
    public static func write(results: EvaluationResults?, curves: [TrainingCurves], to directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var files: [(String, String)] = []
        if let r = results {
            files.append(("acceptance_by_task.svg", acceptanceByTask(r).svg()))
            files.append(("acceptance_by_position.svg", acceptanceByPosition(r).svg()))
            files.append(("speedup_by_task.svg", speedupByTask(r).svg()))
            files.append(("speedup_predicted_vs_measured.svg", predictedVersusMeasured(r).svg()))
        }
        if !curves.isEmpty {
            files.append(("training_loss.svg", trainingLoss(curves).svg()))
            if let a = trainingAcceptance(curves) { files.append(("training_acceptance.svg", a.svg())) }
        }
        var written: [String] = []
        for (name, svg) in files {
            let url = directory.appendingPathComponent(name)
            do { try Data(svg.utf8).write(to: url, options: .atomic) } catch {
                throw EvaluationError.data("\(url.path): cannot write the chart (\(error)); check that --plot DIR is writable")
            }
            written.append(url.path)
        }
        return written
    }
}
