import ArgumentParser
import Foundation
import SpecDistill

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw the SVG charts of saved evaluation results and of training runs (no models needed).",
        discussion: """
        From --results (written by eval --out): acceptance_by_task.svg (bars), acceptance_by_position.svg \
        (lines, one per draft), speedup_by_task.svg (bars) and speedup_predicted_vs_measured.svg (scatter). \
        From --curves: training_loss.svg (running mean) and, when the runs have evaluations.jsonl, \
        training_acceptance.svg. --format also prints the results' tables. From --points (any JSONL, e.g. \
        Scripts/experiment-help's points.jsonl): a labelled scatter of the fields --x and --y, one group \
        per value of --group, written as --name.svg.
        """
    )

    enum TableFormat: String, ExpressibleByArgument, CaseIterable { case none, text, markdown }

    @Option(help: "Results JSON written by specdistill eval --out.") var results: String?
    @Option(help: "Training runs as NAME=RUN_DIR (comma-separated or repeated; RUN_DIR holds metrics.jsonl).")
    var curves: [String] = []
    @Option(help: "Directory for the SVG files.") var out: String
    @Option(help: "Also print the results' tables on stdout.") var format: TableFormat = .none
    @Option(help: "JSONL of points for a scatter chart (one object per line).") var points: String?
    @Option(help: "Field of --points on the x axis.") var x = "teacher_fraction"
    @Option(help: "Field of --points on the y axis.") var y = "rouge_l_vs_teacher"
    @Option(help: "Field of --points labelling each point.") var label = "label"
    @Option(help: "Field of --points grouping the points (colours); default: one group per label.") var group: String?
    @Option(help: "Title of the --points chart.") var title = "Quality against teacher use"
    @Option(help: "File name (without .svg) of the --points chart.") var name = "points"

    func validate() throws {
        if results == nil && curves.isEmpty && points == nil {
            throw ValidationError("give --results FILE.json, --curves NAME=RUN_DIR and/or --points FILE.jsonl")
        }
        if format != .none && results == nil { throw ValidationError("--format prints the tables of --results; give --results") }
        _ = try namedPairs(curves, option: "--curves", what: "RUN_DIR")
    }

    func run() throws {
        let r = try results.map { try EvaluationResults.load(URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath)) }
        let runs = try namedPairs(curves, option: "--curves", what: "RUN_DIR").map { try TrainingCurves.load(name: $0.name, directory: $0.value) }
        let files = try EvaluationCharts.write(results: r, curves: runs, to: URL(fileURLWithPath: (out as NSString).expandingTildeInPath))
        for f in files { print(f) }
        if let points { print(try scatter(points)) }
        if let r {
            switch format {
            case .none: break
            case .text: print(ResultsTables.text(r), terminator: "")
            case .markdown: print(ResultsTables.markdown(r), terminator: "")
            }
        }
    }

    /// The --points scatter: numbers from fields --x / --y; lines missing either are skipped.
    func scatter(_ path: String) throws -> String {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw ValidationError("\(path): cannot read the points file") }
        var chartPoints: [ScatterChart.Point] = []
        for (i, line) in JSONLines.lines(text) {
            guard let o = JSONLines.object(line) else {
                throw ValidationError("\(path):\(i): not a JSON object")
            }
            guard let xv = (o[x] as? NSNumber)?.doubleValue, let yv = (o[y] as? NSNumber)?.doubleValue else { continue }
            let l = o[label].map { "\($0)" } ?? "point \(i)"
            chartPoints.append(ScatterChart.Point(label: l, x: xv, y: yv, group: group.flatMap { o[$0].map { "\($0)" } } ?? l))
        }
        guard !chartPoints.isEmpty else { throw ValidationError("\(path): no line has numeric fields \"\(x)\" and \"\(y)\"") }
        let chart = ScatterChart(title: title, xLabel: x.replacingOccurrences(of: "_", with: " "),
                                 yLabel: y.replacingOccurrences(of: "_", with: " "), points: chartPoints)
        let dir = URL(fileURLWithPath: (out as NSString).expandingTildeInPath)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent(name + ".svg")
        try chart.svg().write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }
}
