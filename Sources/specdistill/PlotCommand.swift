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
        training_acceptance.svg. --format also prints the results' tables.
        """
    )

    enum TableFormat: String, ExpressibleByArgument, CaseIterable { case none, text, markdown }

    @Option(help: "Results JSON written by specdistill eval --out.") var results: String?
    @Option(help: "Training runs as NAME=RUN_DIR (comma-separated or repeated; RUN_DIR holds metrics.jsonl).")
    var curves: [String] = []
    @Option(help: "Directory for the SVG files.") var out: String
    @Option(help: "Also print the results' tables on stdout.") var format: TableFormat = .none

    func validate() throws {
        if results == nil && curves.isEmpty { throw ValidationError("give --results FILE.json and/or --curves NAME=RUN_DIR") }
        if format != .none && results == nil { throw ValidationError("--format prints the tables of --results; give --results") }
        _ = try namedPairs(curves, option: "--curves", what: "RUN_DIR")
    }

    func run() throws {
        let r = try results.map { try EvaluationResults.load(URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath)) }
        let runs = try namedPairs(curves, option: "--curves", what: "RUN_DIR").map { try TrainingCurves.load(name: $0.name, directory: $0.value) }
        let files = try EvaluationCharts.write(results: r, curves: runs, to: URL(fileURLWithPath: (out as NSString).expandingTildeInPath))
        for f in files { print(f) }
        if let r {
            switch format {
            case .none: break
            case .text: print(ResultsTables.text(r), terminator: "")
            case .markdown: print(ResultsTables.markdown(r), terminator: "")
            }
        }
    }
}
