import ArgumentParser
import Foundation
import SpecDistill

struct BenchQuant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quant",
        abstract: "The quantised matrix kernels per instruction-set path and activation-row count.",
        discussion: """
        One thread, one matrix of --rows × --cols weights in each type (interleaved groups of 8 \
        rows, random blocks), activation rows M = 1, 2, …: the minimum µs of one product over \
        --repetitions interleaved repetitions, for every path this CPU has (SPECDISTILL_ISA caps \
        them), and each time as a ratio to one row on the best path — what verifying M − 1 drafted \
        tokens costs in the matrix products when the weights are in cache.
        """
    )
    @Option(help: "Weight rows N (a multiple of 8).") var rows = 576
    @Option(help: "Elements per weight row K (a multiple of 256 for the K-quants).") var cols = 1536
    @Option(help: "Comma-separated activation-row counts.") var m = "1,2,3,4,5,8,12,16"
    @Option(help: "GGML types, comma-separated.") var types = "q4_0,q4_1,q5_0,q5_1,q8_0,q4_k,q6_k"
    @Option(help: "Timed repetitions (minimum reported).") var repetitions = 200
    @Option(help: "Write the results as JSON to this file.") var json: String?

    func run() throws {
        let ms = m.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ms.isEmpty, ms.allSatisfy({ $0 >= 1 && $0 <= 64 }) else { throw ValidationError("--m: counts between 1 and 64, e.g. 1,2,4,8") }
        guard rows > 0, rows % 8 == 0, cols > 0, repetitions > 0 else {
            throw ValidationError("--rows must be a positive multiple of 8, --cols and --repetitions positive")
        }
        let ts = try types.split(separator: ",").map { name -> GGMLType in
            let n = name.trimmingCharacters(in: .whitespaces).lowercased()
            guard let t = GGMLType.allCases.first(where: { $0.description.lowercased() == n }) else {
                throw ValidationError("--types: unknown type \(n) (the interleaved kernels: q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q6_k)")
            }
            return t
        }
        Threads.configure(1)
        print("specdistill bench quant — \(rows) × \(cols) weights, 1 thread, \(Matmul.kernelPaths), load average \(loadAverage())")
        let r = try QuantKernelBenchmark.run(types: ts, rowCounts: ms, N: rows, K: cols, repetitions: repetitions)
        print(pad("type", 7) + pad("path", 18) + ms.map { pad("M=\($0)", 15) }.joined())
        for t in ts {
            let rowsOfType = r.filter { $0.type == t.description }
            guard let one = rowsOfType.filter({ $0.rows == 1 }).map(\.seconds).min() else {
                print(pad(t.description, 7) + "no interleaved kernel for \(cols) columns"); continue
            }
            for isa in Set(rowsOfType.map(\.isa)).sorted() {
                let line = ms.map { mm in
                    rowsOfType.first { $0.isa == isa && $0.rows == mm }.map { pad(String(format: "%.1f (%.2f)", $0.seconds * 1e6, $0.seconds / one), 15) } ?? pad("-", 15)
                }
                print(pad(t.description, 7) + pad(QuantKernelBenchmark.pathName(isa), 18) + line.joined())
            }
        }
        print("µs per product (ratio to one row on the fastest path); load average at the end: \(loadAverage())")
        if let json { try writeBenchJSON(r, to: json) }
    }
}
