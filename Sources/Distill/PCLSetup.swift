import Foundation
import Tokenizers
import Transformer

/// The setup of a PCL run (algorithms.md §5): the student — with the `<help>` action added and
/// calibrated when the run has help budgets — and the ``PCLTrainer`` with its ``PCLSource``
/// (student rollouts through ``HelpRollout``, teacher demonstrations when asked for).
public struct PCLSetup {
    public var target: TransformerModel
    public var tokenizer: Tokenizer
    public var trainSet: PromptDataset
    public var settings: TrainingSettings
    /// The PCL settings; ``PCLRunSettings/budgets`` non-empty gives the student a `<help>` action.
    public var run: PCLRunSettings
    /// Tokens that end a rollout or a teacher demonstration.
    public var stopTokens: Set<Int>
    /// The mean initial probability of `<help>` the added row is calibrated to
    /// (``HelpAction/calibrate(_:tokens:probability:)``); 0 leaves a zero row (logit 0).
    public var helpInitProbability: Double
    /// The first examples of ``trainSet`` whose prompts (each with its budget line, budgets taken
    /// in turn) and responses make the calibration text, cut to the context.
    public var calibrationExamples: Int

    public init(target: TransformerModel, tokenizer: Tokenizer, trainSet: PromptDataset, settings: TrainingSettings,
                run: PCLRunSettings, stopTokens: Set<Int> = [], helpInitProbability: Double = 0.02, calibrationExamples: Int = 4) {
        self.target = target; self.tokenizer = tokenizer; self.trainSet = trainSet; self.settings = settings; self.run = run
        self.stopTokens = stopTokens; self.helpInitProbability = helpInitProbability; self.calibrationExamples = calibrationExamples
    }

    /// The `<help>` row ``student(from:)`` added.
    public struct AddedHelp: Equatable, Sendable {
        /// Its token id (the old vocabulary size).
        public var id: Int
        /// The mean initial probability reached by calibration; nil for a zero row.
        public var probability: Double?
    }

    /// The student to train: `base` itself, or — with help budgets and no help action in `base` —
    /// a copy with the `<help>` row (``HelpAction/adding(to:)``), calibrated to
    /// ``helpInitProbability`` when that is positive.
    /// - Returns: the student and the row added (nil when none was).
    public func student(from base: TransformerModel) throws -> (model: TransformerModel, added: AddedHelp?) {
        let budgets = run.budgets
        guard !budgets.isEmpty && base.config.helpTokenID == nil else { return (base, nil) }
        let model = try HelpAction.adding(to: base)
        let id = model.config.helpTokenID!
        guard helpInitProbability > 0 else { return (model, AddedHelp(id: id, probability: nil)) }
        var ids: [Int] = []
        for (i, example) in trainSet.examples.prefix(calibrationExamples).enumerated() {
            let prompt = trainSet.template.render(HelpBudget.prompt(example.prompt, budget: budgets[i % budgets.count]))
            ids += tokenizer.encode(prompt + (example.response ?? ""), addSpecialTokens: true)
        }
        let p = try HelpAction.calibrate(model, tokens: Array(ids.prefix(min(settings.context, model.config.maxPositions))),
                                         probability: helpInitProbability)
        return (model, AddedHelp(id: id, probability: p))
    }

    /// The trainer of `student` writing into `directory`, and its batch source.
    public func makeTrainer(student: TransformerModel, directory: URL?) throws -> (trainer: PCLTrainer, source: PCLSource) {
        let trainer = try PCLTrainer(model: student, teacher: target, settings: settings, run: run, runDirectory: directory)
        let maxT = min(student.config.maxPositions, target.config.maxPositions, settings.context + 1 + run.maxNewTokens)
        let sampling = SamplingSettings(temperature: run.rolloutTemperature)
        let rollout = HelpRollout(student: student, teacher: target, settings: sampling, maxNewTokens: run.maxNewTokens,
                                  stopTokens: stopTokens, maxT: maxT, teacherVocabulary: tokenizer.vocabularySize)
        let teacherSampler = run.offPolicy.contains(.teacher)
            ? ResponseSampler(model: target, settings: sampling, maxNewTokens: run.maxNewTokens, stopTokens: stopTokens, maxT: maxT) : nil
        let source = try PCLSource(dataset: trainSet, tokenizer: tokenizer, rollout: rollout, teacherSampler: teacherSampler,
                                   lambdaOn: run.lambdaOn, offPolicy: run.offPolicy, replaySize: run.replaySize, budgets: run.budgets,
                                   stopTokens: stopTokens)
        return (trainer, source)
    }
}
