import ArgumentParser
import SpecDistill

struct SpecDistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "specdistill",
        abstract: "Distillation-aligned speculative decoding: train draft models, decode fast, measure honestly.",
        subcommands: [PretrainCommand.self, TrainCommand.self, DecodeCommand.self, GenerateCommand.self,
                      InspectCommand.self, TokenizeCommand.self, LogitsCommand.self, PerplexityCommand.self,
                      ConvertCommand.self, QuantizeCommand.self, DataCommand.self, BenchCommand.self, EvalCommand.self,
                      PlotCommand.self, CacheCommand.self, HelpHeadCommand.self]
    )
}
