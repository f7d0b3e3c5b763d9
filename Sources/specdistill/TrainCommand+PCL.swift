import ArgumentParser
import Foundation
import SpecDistill

/// Flags of `train --method pcl` (algorithms.md §5).
struct PCLOptions: ParsableArguments {
    @Option(name: .customLong("pcl-steps"), help: "PCL window length d: an integer ≥ 1, or 'whole' (each window runs to the end of the path).")
    var pclSteps: PCLWindow = .whole
    @Option(name: .customLong("entropy-weight"), help: "PCL entropy weight tau_e > 0 (1 = sequence-level reverse KL with --discount 1).")
    var entropyWeight: Double = 1
    @Option(help: "PCL discount g in (0, 1].") var discount: Double = 1
    @Option(name: .customLong("replay-size"), help: "Past student rollouts kept for replay (0 = none).") var replaySize = 256
    @Option(name: .customLong("lambda-on"), help: "Probability per batch of fresh on-policy rollouts (else off-policy demonstrations).")
    var lambdaOn: Double = 0.5
    @Option(name: .customLong("off-policy"), help: "Off-policy demonstrations, comma-separated: dataset, teacher, replay.")
    var offPolicy = CommaSeparated<PCLDemonstration>([.dataset, .replay])
    @Option(name: .customLong("help-budgets"), help: "Teacher budgets (fractions of teacher tokens), e.g. 0,0.1,0.2: adds the <help> action.")
    var helpBudgets: String?
    @Option(name: .customLong("dual-lr"), help: "Dual-ascent step size of the budget multipliers.") var dualLR: Double = 1
    @Option(name: .customLong("help-init-probability"),
            help: "Initial mean probability of <help> on the first training examples (exploration; 0 = a zero row, logit 0).")
    var helpInitProbability: Double = 0.02

    var steps: Int? { pclSteps.length }
    var demonstrations: [PCLDemonstration] { offPolicy.values }

    func validate(method: TrainingMethod) throws {
        let given = pclSteps != .whole || entropyWeight != 1 || discount != 1 || helpBudgets != nil
        if method != .pcl && given { throw ValidationError("--pcl-steps, --entropy-weight, --discount and --help-budgets apply to --method pcl") }
        guard method == .pcl else { return }
        do { try PCLSettings(steps: steps, entropyWeight: entropyWeight, discount: discount).validate() } catch {
            throw ValidationError("\(error)")
        }
        if !(lambdaOn >= 0 && lambdaOn <= 1) { throw ValidationError("--lambda-on must be in [0, 1], got \(lambdaOn)") }
        if replaySize < 0 { throw ValidationError("--replay-size must be ≥ 0") }
        if !(dualLR >= 0) { throw ValidationError("--dual-lr must be ≥ 0") }
        if !(helpInitProbability >= 0 && helpInitProbability < 1) { throw ValidationError("--help-init-probability must be in [0, 1)") }
        if let helpBudgets { do { _ = try HelpBudget.parse(helpBudgets) } catch { throw ValidationError("\(error)") } }
    }
}

extension TrainCommand {
    /// The PCL stage (``PCLSetup``): adds and calibrates the help row when budgets are given
    /// (unless the draft has one), trains with ``PCLTrainer``, evaluates teacher-forced acceptance
    /// before and after.
    func runPCL(base: TransformerModel, trainSet: PromptDataset, targetBundle: ModelBundle, tokenizer: Tokenizer,
                steps: Int, dir: URL, evaluator: DistillationEvaluator) throws -> TransformerModel {
        let o = pclOptions
        let budgets = try o.helpBudgets.map(HelpBudget.parse) ?? []
        var run = PCLRunSettings()
        run.pcl = PCLSettings(steps: o.steps, entropyWeight: o.entropyWeight, discount: o.discount)
        run.lambdaOn = o.lambdaOn; run.offPolicy = o.demonstrations; run.replaySize = o.replaySize
        run.budgets = budgets; run.dualLearningRate = o.dualLR
        run.rolloutTemperature = genTemperature; run.maxNewTokens = maxNewTokens
        let setup = PCLSetup(target: targetBundle.model, tokenizer: tokenizer, trainSet: trainSet, settings: trainingSettings(steps: steps),
                             run: run, stopTokens: stopTokens(tokenizer, targetBundle), helpInitProbability: o.helpInitProbability)
        let (model, added) = try setup.student(from: base)
        if let added {
            if let p = added.probability {
                printErr(String(format: "student: added the <help> action as id %d, mean initial probability %.4f", added.id, p))
            } else {
                printErr("student: added the <help> action as id \(added.id) (zero row, logit 0)")
            }
        }
        let (trainer, source) = try setup.makeTrainer(student: model, directory: dir)
        trainer.record = runRecord(stage: "pcl")
        if try trainer.prepare(resuming: resume, source: source) { printErr("pcl: resumed at step \(trainer.step)") }
        let label = "pcl" + (budgets.isEmpty ? "" : " (help budgets \(budgets.map { String(format: "%g", $0) }.joined(separator: ",")))")
        let bar = ProgressBar(total: steps, label: label)
        trainer.onEvent = { event in
            switch event {
            case .started(let total, let at): printErr("\(label): \(total) steps\(at > 0 ? ", resuming at \(at)" : "")")
            case .step(let m):
                let frac = m.teacherFraction.map { String(format: " help %.3f", $0) } ?? ""
                let multipliers = m.multipliers ?? []
                let lambdas = multipliers.isEmpty ? "" : " lambda " + multipliers.map { String(format: "%.2f", $0) }.joined(separator: "/")
                bar.update(m.step, String(format: "loss %.4f [%@]%@%@", m.loss, m.source ?? "", frac, lambdas))
            case .evaluation(let step, let metrics): bar.message(evaluationLine(label, step, metrics))
            case .checkpoint: break
            case .finished(let step, let seconds): bar.finish(); printErr(String(format: "%@: %d steps in %.1f s", label, step, seconds))
            }
        }
        if trainer.step < steps {
            try trainer.train(source: source) { evaluator.evaluate($0) }
        } else { printErr("\(label): already finished") }
        return model
    }

    func evaluationLine(_ label: String, _ step: Int, _ metrics: [String: Double]) -> String {
        (String(format: "%@ step %d: teacher-forced acceptance greedy %.4f, sampling %.4f; forward KL %.4f", label, step,
                        metrics["acceptance_greedy"] ?? 0, metrics["acceptance_sampling"] ?? 0, metrics["fkl"] ?? 0))
    }
}
