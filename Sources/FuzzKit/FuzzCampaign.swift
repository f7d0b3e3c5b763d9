// The FuzzKit module owns structure-aware fuzzing of every loader: seeds written in-process,
// binary / JSON / GGUF-metadata mutators, and each public loader as a fuzz target.

import Foundation

/// The input kinds the fuzzer covers, each read through its public loader (see ``FuzzTarget``).
public enum FuzzFormat: String, CaseIterable, Sendable {
    case gguf, safetensors, config, tokenizer, jsonl, run, cache
}

/// How one input ended when run in this process.
public enum FuzzOutcome: Equatable {
    /// The loader refused it with an error of `messageLength` characters.
    case error(messageLength: Int)
    /// The loader accepted it and the smoke use (a forward step, a sample, encode/decode) ran.
    case accepted
}

/// Creating inputs: input `index` of a campaign with seed `seed` is one mutation of one seed,
/// fully determined by (format, seed, index), so a child process and the parent that saves a
/// crashing input make the same bytes.
public enum FuzzCampaign {
    /// The longest error message a loader may produce (longer counts as a failure: messages
    /// must stay readable whatever the file holds).
    public static let maxMessageLength = 4096

    static func rng(_ format: FuzzFormat, seed: UInt64, index: Int) -> FuzzRandom {
        var h: UInt64 = 1469598103934665603
        for b in format.rawValue.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        var r = FuzzRandom(seed: h ^ (seed &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        _ = r.next()
        return r
    }

    /// Writes input `index` into `work/input` (a copy of the chosen seed with its target file
    /// mutated) and returns the input directory and the mutated file.
    @discardableResult
    public static func makeInput(_ format: FuzzFormat, seeds: [FuzzSeed], seed: UInt64, index: Int, work: URL) throws -> (dir: URL, file: URL) {
        var r = rng(format, seed: seed, index: index)
        let s = seeds[r.below(seeds.count)]
        let fm = FileManager.default
        let dir = work.appendingPathComponent("input")
        try? fm.removeItem(at: dir)
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        try fm.copyItem(at: s.directory, to: dir)
        let file = dir.appendingPathComponent(s.target)
        let original = try Data(contentsOf: file)
        if s.target.hasSuffix(".gguf"), r.chance(0.5), let d = GGUFMutator.mutate(s.directory.appendingPathComponent(s.target), rng: &r) {
            try (r.chance(0.2) ? BinaryMutator.mutate(d, headerEnd: s.headerEnd ?? d.count, rng: &r) : d).write(to: file)
            return (dir, file)
        }
        try mutate(original, name: s.target, headerEnd: s.headerEnd, rng: &r).write(to: file)
        return (dir, file)
    }

    static func mutate(_ data: Data, name: String, headerEnd: Int?, rng r: inout FuzzRandom) -> Data {
        if let headerEnd {
            // safetensors: half the time edit the JSON header as JSON (length fixed up or not).
            if name.hasSuffix(".safetensors"), r.chance(0.5), headerEnd <= data.count {
                let header = JSONMutator.mutate(data.subdata(in: 8..<headerEnd), rng: &r)
                var length = UInt64(header.count)
                if r.chance(0.2) { length = r.pick(BinaryMutator.interesting64) }
                return withUnsafeBytes(of: length.littleEndian) { Data($0) } + header + data.subdata(in: headerEnd..<data.count)
            }
            return BinaryMutator.mutate(data, headerEnd: headerEnd, rng: &r)
        }
        if name.hasSuffix(".jsonl") {
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map { Data($0.utf8) }
            if r.chance(0.8), !lines.isEmpty {
                let i = r.below(lines.count)
                lines[i] = JSONMutator.mutate(lines[i], rng: &r)
            }
            var out = Data(lines.joined(separator: Data("\n".utf8)))
            if r.chance(0.25) { out = JSONMutator.damageText(out, rng: &r) }
            return out
        }
        return JSONMutator.mutate(data, rng: &r)
    }

    /// Runs `count` inputs of `format` in this process (inputs `first..<first + count`); a crash
    /// ends the process, so use this where a crash should fail loudly (the test suite) and the
    /// `specdistill-fuzz` executable for campaigns. Returns the outcomes in order.
    public static func runInProcess(_ format: FuzzFormat, seeds: [FuzzSeed], seed: UInt64, first: Int = 0, count: Int,
                                    work: URL) -> [FuzzOutcome] {
        (first..<(first + count)).map { i in
            do {
                let input = try makeInput(format, seeds: seeds, seed: seed, index: i, work: work)
                return FuzzTarget.run(format, input: input.dir)
            } catch {
                return .error(messageLength: -1)  // the harness itself failed to write the input
            }
        }
    }
}
