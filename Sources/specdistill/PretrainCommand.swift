import ArgumentParser
import Foundation
import SpecDistill

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Train a model from scratch with next-token cross-entropy.",
        discussion: """
        Writes OUT/metrics.jsonl (one JSON object per step), OUT/evaluations.jsonl (the validation \
        loss, one JSON object per evaluation), OUT/checkpoint/ (a loadable model \
        directory plus optimizer state; written to a temporary name, then renamed) and, at the \
        end, OUT/model/ (config.json, model.safetensors, tokenizer.json). --resume continues \
        from OUT/checkpoint with the same data order and RNG state. 5% of the tokens (the end of \
        the corpus) are held out for the validation loss.
        Presets: \(ModelConfig.presets.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")).
        """
    )
    @Option(help: "Training text: a .txt file or a .jsonl file of {\"text\"} or {\"prompt\",\"response\"} lines.") var data: String
    @Option(name: .customLong("model-config"), help: "A preset name (tiny, draft, small, target) or a config.json path.") var modelConfig: String
    @Option(help: "Architecture for a preset: llama, qwen2, gpt2 or gpt_neox.") var architecture: Architecture = .llama
    @Option(help: "A tokenizer.json to use.") var tokenizer: String?
    @Option(name: .customLong("train-tokenizer"), help: "Train a byte-level BPE tokenizer with this vocabulary size on the data.") var trainTokenizer: Int?
    @Option(help: "Output run directory.") var out: String
    @Option(help: "Optimizer steps.") var steps = 1000
    @Option(help: "Tokens per sequence (T); also the model's context for presets.") var context = 256
    @OptionGroup var optimizer: OptimizerOptions
    var batchSize: Int { optimizer.batchSize ?? OptimizerOptions.Defaults.pretrain.batchSize }
    @Option(help: "Seed for initialisation and data order.") var seed: UInt64 = 1
    @Option(name: .customLong("save-every"), help: "Checkpoint every N steps (0 = only at the end).") var saveEvery = 100
    @Option(name: .customLong("eval-every"), help: "Validation loss every N steps (0 = only before and after).") var evalEvery = 100
    @Flag(help: "Continue from OUT/checkpoint.") var resume = false
    @Option(name: .customLong("stop-at-step"), help: "End this run after step N with a checkpoint (e.g. a cluster's time limit); continue with --resume (the same run as without a stop).")
    var stopAtStep: Int?
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if (tokenizer == nil) == (trainTokenizer == nil) { throw ValidationError("give exactly one of --tokenizer FILE or --train-tokenizer VOCAB") }
        if let v = trainTokenizer, v < 257 { throw ValidationError("--train-tokenizer needs a vocabulary of at least 257 (256 bytes + merges), got \(v)") }
        if steps < 0 || batchSize < 1 || context < 2 { throw ValidationError("--steps ≥ 0, --batch-size ≥ 1 and --context ≥ 2 are required") }
    }

    func run() throws {
        threadOptions.apply()
        let job = try Job.start("pretrain")
        let outURL = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        let docs = try TextCorpus.documents(URL(fileURLWithPath: data))
        let tokURL = outURL.appendingPathComponent("tokenizer.json")
        let tok: Tokenizer
        if let path = tokenizer {
            tok = try Tokenizer(url: URL(fileURLWithPath: path))
        } else if resume, FileManager.default.fileExists(atPath: tokURL.path) {
            tok = try Tokenizer(url: tokURL)
        } else {
            printErr("training a byte-level BPE tokenizer with \(trainTokenizer!) tokens on \(docs.count) document(s)…")
            tok = try BPETrainer(vocabularySize: trainTokenizer!).train(docs)
        }
        if job.isRoot { try tok.tokenizerJSON().write(to: tokURL, options: .atomic) }
        var ids: [Int32] = []
        for d in docs {
            ids += tok.encode(d, addSpecialTokens: false).map(Int32.init)
            if let eos = tok.eosTokenID, docs.count > 1 { ids.append(Int32(eos)) }
        }
        let heldOut = max(context + 1, ids.count / 20)
        guard ids.count > heldOut + context + 1 else {
            throw DistillError.data("\(data): \(ids.count) tokens is too little for --context \(context) plus a held-out 5%; use more text or a smaller context")
        }
        let train = Array(ids[..<(ids.count - heldOut)]), validation = Array(ids[(ids.count - heldOut)...])
        var config: ModelConfig
        if let preset = ModelConfig.preset(modelConfig, architecture: architecture, vocabSize: tok.vocabularySize, context: context) {
            config = preset
        } else {
            config = try ModelConfig.load(URL(fileURLWithPath: modelConfig))
            guard config.vocabSize >= tok.vocabularySize else {
                throw DistillError.vocabulary("\(modelConfig): vocab_size \(config.vocabSize) is smaller than the tokenizer's \(tok.vocabularySize)")
            }
        }
        config.eosTokenID = tok.eosTokenID
        config.bosTokenID = tok.bosTokenID
        let model = try TransformerModel(config: config)
        model.initialize(seed: seed)
        printErr(String(format: "model: %@ %.2fM parameters (L %d, C %d, NH %d, F %d, V %d); %d training tokens, %d held out",
                        config.architecture.rawValue, Double(model.parameterCount) / 1e6, config.numLayers, config.hiddenSize,
                        config.numHeads, config.intermediateSize, config.vocabSize, train.count, validation.count))
        var settings = TrainingSettings()
        settings.steps = steps; settings.context = context
        optimizer.apply(to: &settings, defaults: .pretrain)
        settings.seed = seed
        settings.saveEvery = saveEvery; settings.evalEvery = evalEvery
        let trainer = try Trainer(model: model, objective: CrossEntropyObjective(), settings: settings, runDirectory: outURL,
                                  communicator: job)
        if try trainer.prepare(resuming: resume) {
            printErr("resumed from \(outURL.appendingPathComponent("checkpoint").path) at step \(trainer.step)")
        } else if resume {
            printErr("no checkpoint in \(out); starting from step 0")
        }
        let bar = ProgressBar(total: steps, label: "pretrain")
        trainer.onEvent = { event in
            switch event {
            case .step(let m):
                bar.update(m.step, String(format: "loss %.4f lr %.2e %.0f tok/s", m.loss, m.learningRate, m.tokensPerSecond ?? 0))
            case .evaluation(let step, let metrics):
                bar.message(String(format: "step %d: validation loss %.4f (perplexity %.2f)", step, metrics["val_loss"] ?? .nan,
                                   exp(metrics["val_loss"] ?? .nan)))
            case .checkpoint(let step, let path): bar.message("step \(step): checkpoint \(path)")
            case .finished(let step, let seconds): bar.finish(); printErr(String(format: "finished %d steps in %.1f s", step, seconds))
            case .started: break
            }
        }
        let evaluator = ValidationLoss(tokens: validation, context: context, batchSize: batchSize)
        var source = TokenStreamSource(tokens: train)
        try trainer.run(source: &source, evaluate: { try evaluator.evaluate($0) }, stopAt: stopAtStep)
        if trainer.step < steps {
            printErr("stopped after step \(trainer.step) (--stop-at-step); checkpoint in \(outURL.appendingPathComponent("checkpoint").path); continue with the same command and --resume")
            return
        }
        // Every rank holds the same model; rank 0 writes it.
        guard job.isRoot else { return }
        let modelURL = outURL.appendingPathComponent("model")
        try ModelBundle(model: model, tokenizer: tok, path: modelURL.path, format: "hf").save(directory: modelURL)
        try tok.tokenizerJSON().write(to: outURL.appendingPathComponent("checkpoint/tokenizer.json"), options: .atomic)
        print("model written to \(modelURL.path)")
    }
}
