import ArgumentParser
import Foundation
import SpecDistill

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Prepare datasets as JSONL {\"prompt\", \"response\"} files.",
        subcommands: [DataGSM8K.self])
}

struct DataGSM8K: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gsm8k",
        abstract: "Split GSM8K into train / validation files in AdaSPEC's format.",
        discussion: """
        Reads {"question", "answer"} lines; the response is the worked answer with calculator \
        annotations <<…>> stripped and "####" replaced by "The final answer is: ". Use \
        --template gsm8k when training so the prompt gets AdaSPEC's instruction. The split is a \
        seeded shuffle: the same files on every machine.
        """)
    @Option(name: .customLong("in"), help: "GSM8K train.jsonl.") var input: String = "../shared/data/gsm8k/train.jsonl"
    @Option(help: "Output directory (train.jsonl, validation.jsonl).") var out: String
    @Option(help: "Held-out examples.") var validation = 500
    @Option(help: "Shuffle seed.") var seed: UInt64 = 1

    func run() throws {
        let (train, val) = try GSM8K.prepare(URL(fileURLWithPath: input), validation: validation, seed: seed)
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try GSM8K.write(train, to: dir.appendingPathComponent("train.jsonl"))
        try GSM8K.write(val, to: dir.appendingPathComponent("validation.jsonl"))
        print("\(train.count) training and \(val.count) validation examples in \(dir.path)")
    }
}
