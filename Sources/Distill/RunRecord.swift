import Formats
import Foundation

/// What a training run ran, written by the trainers as `run.json` in their run directory when the
/// run starts (rank 0 only; pretty-printed, sorted keys). The caller fills in where the run came
/// from (``stage``, the models, the data); the trainer fills in what it runs (``objective``,
/// ``settings``, ``ranks`` or ``pcl``), so the file always describes the trainer's own settings.
///
/// **Schema** (every key but `stage` may be absent; the keys are those of the files `specdistill
/// train` wrote before the library did, so old run directories resume and read unchanged):
///
/// | key | type | filled by | meaning |
/// |---|---|---|---|
/// | `stage` | string | caller | the stage's label, e.g. `draft (forwardKL, fixed data)`, `pcl` |
/// | `target`, `draft` | string | caller | the target model; the draft's initialisation (`from-target:LAYERS` for target layers) |
/// | `data`, `evalData` | string | caller | training and held-out data |
/// | `template` | string | caller | the prompt template |
/// | `dataSource` | string | caller | ``DataSourceKind`` of the batches (``Trainer`` stages) |
/// | `lambda` | number | caller | the constant on-policy fraction `--lambda` |
/// | `lambdaSchedule` | object | caller | ``LambdaSchedule`` (`start`, `end`, `warmupSteps`, `rampSteps`), mixed data only; checked on resume |
/// | `genTemperature`, `maxNewTokens` | number | caller | sampling of generated responses |
/// | `objective` | object of strings | trainer | ``Objective/metadata`` (``PCLObjective/metadata`` for PCL) |
/// | `settings` | object | trainer | ``TrainingSettings`` |
/// | `ranks` | integer | ``Trainer`` | processes of the data-parallel job |
/// | `pcl` | object | ``PCLTrainer`` | ``PCLRunSettings`` |
public struct RunRecord: Codable, Equatable, Sendable {
    /// The file name in a run directory.
    public static let fileName = "run.json"

    public var stage: String
    public var target: String?
    public var draft: String?
    public var data: String?
    public var evalData: String?
    public var template: String?
    public var dataSource: String?
    public var lambda: Double?
    public var lambdaSchedule: LambdaSchedule?
    public var genTemperature: Float?
    public var maxNewTokens: Int?
    /// Set by the trainer.
    public var objective: [String: String]?
    /// Set by the trainer.
    public var settings: TrainingSettings?
    /// Set by ``Trainer``.
    public var ranks: Int?
    /// Set by ``PCLTrainer``.
    public var pcl: PCLRunSettings?

    public init(stage: String, target: String? = nil, draft: String? = nil, data: String? = nil, evalData: String? = nil,
                template: String? = nil) {
        self.stage = stage; self.target = target; self.draft = draft; self.data = data; self.evalData = evalData
        self.template = template
    }

    /// Writes `dir/run.json` (atomically).
    public func write(in dir: URL) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(e.encode(self), to: dir.appendingPathComponent(Self.fileName))
    }

    /// Reads `dir/run.json`; nil when there is none.
    /// - Throws: ``DistillError/checkpoint(_:)`` naming the file when it does not decode.
    public static func read(in dir: URL) throws -> RunRecord? {
        let url = dir.appendingPathComponent(fileName)
        guard let data = try? Data(contentsOf: url) else { return nil }
        do { return try JSONDecoder().decode(RunRecord.self, from: data) } catch {
            throw DistillError.checkpoint("\(url.path): not a run record (\(error)); delete it or use a new --out directory")
        }
    }

    /// On resume: throws unless the run in `dir` (its `run.json`, when there is one) drew its
    /// batches as this record says — the on-policy schedule of mixed data (``lambdaSchedule``),
    /// or the batches after the checkpoint would differ from an uninterrupted run. Records without
    /// a schedule check nothing. Records written before schedules existed give only `lambda` (a
    /// constant); a schedule without `warmupSteps` or `rampSteps` is read as 0 and as this
    /// record's ramp. Only these keys are read, so any older `run.json` is accepted.
    /// - Throws: ``DistillError/settings(_:)`` naming both schedules and the flags.
    public func checkResumable(in dir: URL) throws {
        guard let schedule = lambdaSchedule,
              let data = try? Data(contentsOf: dir.appendingPathComponent(Self.fileName)),
              let old = try? JSONDecoder().decode(ScheduleOnly.self, from: data) else { return }
        let start = old.lambdaSchedule?.start ?? old.lambda
        let end = old.lambdaSchedule?.end ?? old.lambda
        let warmup = old.lambdaSchedule?.warmupSteps ?? 0
        let ramp = old.lambdaSchedule?.rampSteps ?? schedule.rampSteps
        if start != schedule.start || end != schedule.end || warmup != schedule.warmupSteps || ramp != schedule.rampSteps {
            throw DistillError.settings("\(dir.path)/\(Self.fileName) was written with lambda start \(start ?? -1), end \(end ?? -1), "
                                        + "warm-up \(warmup), ramp \(ramp) steps; resume with the same --lambda / --lambda-start / "
                                        + "--lambda-end / --lambda-warmup-steps / --lambda-ramp-steps, or use a new --out directory")
        }
    }

    /// The keys of an old `run.json` that ``checkResumable(in:)`` reads, each optional.
    private struct ScheduleOnly: Decodable {
        struct Schedule: Decodable { var start: Double?, end: Double?, warmupSteps: Int?, rampSteps: Int? }
        var lambda: Double?
        var lambdaSchedule: Schedule?
    }
}
