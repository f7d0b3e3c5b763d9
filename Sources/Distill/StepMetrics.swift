import Foundation

/// Per-step numbers of either trainer (``Trainer``, ``PCLTrainer``), one JSON line each in
/// `metrics.jsonl` (``RunLog``).
///
/// **Line layout** (one JSON object, sorted keys; absent optionals are left out):
///
/// | key | written by | meaning |
/// |---|---|---|
/// | `step`, `loss`, `learningRate`, `gradNorm`, `tokens`, `elapsedSeconds` | both | the step just taken (1-based) and its numbers |
/// | `tokensPerSecond` | ``Trainer`` | B·T·gradAccum over the step's wall-clock time |
/// | `allReduceSeconds`, `rankWaitSeconds` | ``Trainer``, several ranks | see ``Trainer/lastReduction`` |
/// | `source`, `teacherFraction`, `multipliers` | ``PCLTrainer`` | batch kinds, help actions / actions, budget multipliers |
/// | any other key, a number | ``Trainer`` | the objective's ``Objective/stepStatistics`` (AdaSPEC: `keptFraction`) |
///
/// The objective's statistics are flattened into the line beside the fixed keys rather than
/// nested, so the lines of AdaSPEC runs written before statistics went through the protocol
/// (`"keptFraction": …` at the top level) read back unchanged, and new lines are the same bytes.
/// Decoding collects every key that is not a fixed one and holds a number into ``statistics``.
public struct StepMetrics: Sendable, Equatable {
    /// The step just taken (1-based: the trainer's step after it).
    public var step: Int
    public var loss: Double
    public var learningRate: Float
    public var gradNorm: Double
    /// Supervised tokens in the loss (``PCLTrainer``: windows, i.e. path positions).
    public var tokens: Int
    /// ``Trainer``: tokens processed per second in this step (B·T·gradAccum / step time).
    public var tokensPerSecond: Double?
    /// Seconds since the trainer's `run` started.
    public var elapsedSeconds: Double
    /// Data-parallel runs: seconds of this step's gradient all-reduce, and seconds rank 0 waited
    /// for the slowest rank before it (load imbalance).
    public var allReduceSeconds: Double?
    public var rankWaitSeconds: Double?
    /// ``PCLTrainer``: where the step's batches came from (student, dataset, teacher or replay;
    /// comma-separated, one per micro-batch).
    public var source: String?
    /// ``PCLTrainer``, on-policy batches: help actions / actions over the step.
    public var teacherFraction: Double?
    /// ``PCLTrainer``: the budget multipliers after this step (in budget order; empty without budgets).
    public var multipliers: [Double]?
    /// The objective's ``Objective/stepStatistics`` after the step (e.g. AdaSPEC's `keptFraction`);
    /// names must differ from the fixed keys above.
    public var statistics: [String: Double]

    public init(step: Int, loss: Double, learningRate: Float, gradNorm: Double, tokens: Int, tokensPerSecond: Double? = nil,
                elapsedSeconds: Double, allReduceSeconds: Double? = nil, rankWaitSeconds: Double? = nil, source: String? = nil,
                teacherFraction: Double? = nil, multipliers: [Double]? = nil, statistics: [String: Double] = [:]) {
        precondition(statistics.keys.allSatisfy { Field(rawValue: $0) == nil },
                     "StepMetrics: statistic names \(statistics.keys.sorted()) collide with a fixed metrics key")
        self.step = step; self.loss = loss; self.learningRate = learningRate; self.gradNorm = gradNorm
        self.tokens = tokens; self.tokensPerSecond = tokensPerSecond; self.elapsedSeconds = elapsedSeconds
        self.allReduceSeconds = allReduceSeconds; self.rankWaitSeconds = rankWaitSeconds
        self.source = source; self.teacherFraction = teacherFraction; self.multipliers = multipliers
        self.statistics = statistics
    }

    /// The fixed keys of a line.
    enum Field: String, CaseIterable {
        case step, loss, learningRate, gradNorm, tokens, tokensPerSecond, elapsedSeconds, allReduceSeconds, rankWaitSeconds
        case source, teacherFraction, multipliers
    }
}

extension StepMetrics: Codable {
    /// Any key of a line: the fixed ones and the objective's statistics share one JSON object.
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        init(_ field: Field) { stringValue = field.rawValue }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        step = try c.decode(Int.self, forKey: Key(.step))
        loss = try c.decode(Double.self, forKey: Key(.loss))
        learningRate = try c.decode(Float.self, forKey: Key(.learningRate))
        gradNorm = try c.decode(Double.self, forKey: Key(.gradNorm))
        tokens = try c.decode(Int.self, forKey: Key(.tokens))
        tokensPerSecond = try c.decodeIfPresent(Double.self, forKey: Key(.tokensPerSecond))
        elapsedSeconds = try c.decode(Double.self, forKey: Key(.elapsedSeconds))
        allReduceSeconds = try c.decodeIfPresent(Double.self, forKey: Key(.allReduceSeconds))
        rankWaitSeconds = try c.decodeIfPresent(Double.self, forKey: Key(.rankWaitSeconds))
        source = try c.decodeIfPresent(String.self, forKey: Key(.source))
        teacherFraction = try c.decodeIfPresent(Double.self, forKey: Key(.teacherFraction))
        multipliers = try c.decodeIfPresent([Double].self, forKey: Key(.multipliers))
        statistics = [:]
        for key in c.allKeys where Field(rawValue: key.stringValue) == nil {
            if let value = try? c.decode(Double.self, forKey: key) { statistics[key.stringValue] = value }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(step, forKey: Key(.step))
        try c.encode(loss, forKey: Key(.loss))
        try c.encode(learningRate, forKey: Key(.learningRate))
        try c.encode(gradNorm, forKey: Key(.gradNorm))
        try c.encode(tokens, forKey: Key(.tokens))
        try c.encodeIfPresent(tokensPerSecond, forKey: Key(.tokensPerSecond))
        try c.encode(elapsedSeconds, forKey: Key(.elapsedSeconds))
        try c.encodeIfPresent(allReduceSeconds, forKey: Key(.allReduceSeconds))
        try c.encodeIfPresent(rankWaitSeconds, forKey: Key(.rankWaitSeconds))
        try c.encodeIfPresent(source, forKey: Key(.source))
        try c.encodeIfPresent(teacherFraction, forKey: Key(.teacherFraction))
        try c.encodeIfPresent(multipliers, forKey: Key(.multipliers))
        for (name, value) in statistics { try c.encode(value, forKey: Key(stringValue: name)) }
    }
}

/// Progress of a run of either trainer, reported through its `onEvent` callback (the library
/// prints nothing). Rank 0 alone reports in a data-parallel job. The trainers write the files
/// themselves (``RunLog``): a step's line is in `metrics.jsonl` and an evaluation's in
/// `evaluations.jsonl` before its event is reported.
public enum TrainingEvent: Sendable {
    case started(totalSteps: Int, resumedAt: Int)
    case step(StepMetrics)
    /// Metrics by name of the evaluation at `step` (0: before the first step).
    case evaluation(step: Int, metrics: [String: Double])
    case checkpoint(step: Int, path: String)
    case finished(step: Int, seconds: Double)
}
