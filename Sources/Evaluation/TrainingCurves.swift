import Distill
import Foundation

/// The curves of one training run directory: per-step metrics from `metrics.jsonl`
/// (``StepMetrics``, one JSON line per optimizer step, as ``Trainer`` and ``PCLTrainer`` write
/// them) and, when present, the teacher-forced evaluations of `evaluations.jsonl` (`step`,
/// `acceptance_greedy`, `acceptance_sampling`, `fkl`, `tokens`, as the trainers log the
/// evaluations of `specdistill train`).
public struct TrainingCurves: Sendable {
    public var name: String
    /// The directory the files were read from.
    public var directory: String
    public var steps: [StepMetrics]
    public var evaluations: [Evaluation]

    public struct Evaluation: Codable, Equatable, Sendable {
        public var step: Int
        public var acceptanceGreedy: Double?
        public var acceptanceSampling: Double?
        public var fkl: Double?
        enum CodingKeys: String, CodingKey {
            case step, fkl
            case acceptanceGreedy = "acceptance_greedy"
            case acceptanceSampling = "acceptance_sampling"
        }
    }

    public init(name: String, directory: String, steps: [StepMetrics], evaluations: [Evaluation]) {
        self.name = name; self.directory = directory; self.steps = steps; self.evaluations = evaluations
    }

    /// Reads a run directory. AdaSPEC's two-stage layout (`DIR/reference`, `DIR/draft`) is
    /// accepted too: without `DIR/metrics.jsonl`, `DIR/draft/metrics.jsonl` is read.
    /// - Throws: ``EvaluationError/data(_:)`` when there is no metrics file or a line does not parse
    ///   (naming the file and line).
    public static func load(name: String, directory: String) throws -> TrainingCurves {
        var dir = URL(fileURLWithPath: (directory as NSString).expandingTildeInPath)
        let fm = FileManager.default
        if !fm.fileExists(atPath: dir.appendingPathComponent("metrics.jsonl").path),
           fm.fileExists(atPath: dir.appendingPathComponent("draft/metrics.jsonl").path) {
            dir = dir.appendingPathComponent("draft")
        }
        let metricsURL = dir.appendingPathComponent("metrics.jsonl")
        guard fm.fileExists(atPath: metricsURL.path) else {
            throw EvaluationError.data("\(metricsURL.path): no such file; --curves NAME=DIR takes a training run directory "
                                       + "(the --out of specdistill train) holding metrics.jsonl")
        }
        let steps: [StepMetrics] = try readLines(metricsURL)
        let evalURL = dir.appendingPathComponent("evaluations.jsonl")
        let evaluations: [Evaluation] = fm.fileExists(atPath: evalURL.path) ? try readLines(evalURL) : []
        return TrainingCurves(name: name, directory: dir.path, steps: steps, evaluations: evaluations)
    }

    static func readLines<T: Decodable>(_ url: URL) throws -> [T] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw EvaluationError.data("\(url.path): cannot read the file as UTF-8 text")
        }
        let decoder = JSONDecoder()
        var out: [T] = []
        for (n, line) in JSONLines.lines(text) {
            do { out.append(try decoder.decode(T.self, from: Data(line.utf8))) } catch {
                throw EvaluationError.data("\(url.path):\(n): not a \(T.self) record (\(error))")
            }
        }
        return out
    }

    /// The loss as a running mean over the last `window` steps (window ≥ 1): point i is the
    /// mean of the losses of steps max(0, i − window + 1)…i, plotted at step i.
    public func smoothedLoss(window: Int) -> [(step: Double, loss: Double)] {
        precondition(window >= 1, "smoothedLoss: window must be ≥ 1")
        var out: [(Double, Double)] = []
        var sum = 0.0
        for (i, m) in steps.enumerated() {
            sum += m.loss
            if i >= window { sum -= steps[i - window].loss }
            out.append((Double(m.step), sum / Double(min(i + 1, window))))
        }
        return out
    }
}
