import ArgumentParser
import SpecDistill

struct SpecDistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "specdistill",
        abstract: "Distillation-aligned speculative decoding: train draft models, decode fast, measure honestly.",
        subcommands: [PretrainCommand.self, GenerateCommand.self, DecodeCommand.self, InspectCommand.self, TokenizeCommand.self,
                      LogitsCommand.self, BenchCommand.self]
    )
}
