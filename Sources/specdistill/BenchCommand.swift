import ArgumentParser
import Foundation
import SpecDistill

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks with same-run baselines (build with -c release).",
        subcommands: [BenchTensor.self, BenchModel.self, BenchDecode.self, BenchQuant.self, BenchDistill.self, BenchCosts.self, BenchAllReduce.self]
    )
}

struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for OpenBLAS and the project's loops (default: all cores, or SPECDISTILL_THREADS; under mpirun, the host's cores divided among its ranks).")
    var threads: Int?

    func apply() { Threads.configure(threads ?? Self.defaultCount) }

    /// SPECDISTILL_THREADS if set, else the cores, divided among the ranks of a data-parallel job on
    /// this host (`OMPI_COMM_WORLD_LOCAL_SIZE`), so N ranks do not oversubscribe the cores.
    static var defaultCount: Int {
        if ProcessInfo.processInfo.environment["SPECDISTILL_THREADS"] != nil { return Threads.defaultCount }
        return max(1, Threads.defaultCount / Communicator.localRanks())
    }
}

struct BenchTensor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tensor",
        abstract: "Matrix products of a small transformer's shapes: the tensor op against raw OpenBLAS.",
        discussion: """
        For each shape C (M×N) = A (M×K) · Wᵀ prints the tensor op's time, GFLOP/s and GB/s, raw \
        cblas_sgemm's (and cblas_sgemv's for M = 1), and the ratio baseline time / tensor time \
        (above 1 means the tensor op is faster); for M ≤ 8 also the decoding row kernel \
        (Matmul.smallRows, what the inference session uses). Medians of --repetitions runs.
        """
    )
    @OptionGroup var threadOptions: ThreadOptions
    @Option(help: "Timed repetitions per measurement (median reported).") var repetitions = 7
    @Flag(help: "Only the single- and few-row (decoding) shapes.") var decodeOnly = false

    func run() throws {
        threadOptions.apply()
        print("specdistill bench tensor — threads \(Threads.count), \(Matmul.kernelPaths), load average \(loadAverage())")
        print(pad("M", 5) + pad("K", 6) + pad("N", 7) + pad("path", 16) + pad("tensor ms", 11) + pad("GFLOP/s", 9)
              + pad("GB/s", 7) + pad("sgemm ms", 10) + pad("sgemv ms", 10) + pad("base GF/s", 10) + pad("base GB/s", 10) + pad("ratio", 7)
              + pad("row ms", 9) + "row GB/s")
        if Threads.count > 1 {
            var line = "parallel job of \(Threads.count) tasks of 20 µs, overhead µs (after 0 / 20 / 100 µs of caller work):"
            for pool in [true, false] {
                let us = [0.0, 20, 100].map { MatmulBenchmark.dispatchMicroseconds(pool: pool, gapMicroseconds: $0) }
                line += (pool ? " pool " : ", GCD ") + us.map { f($0, 2) }.joined(separator: " / ")
            }
            print(line)
        }
        for s in MatmulBenchmark.standardShapes where !decodeOnly || s.m <= 8 {
            let r = MatmulBenchmark.run(s, repetitions: repetitions)
            let base = r.baselineSeconds
            print(pad("\(s.m)", 5) + pad("\(s.k)", 6) + pad("\(s.n)", 7) + pad(r.path, 16)
                  + pad(f(r.tensorSeconds * 1e3, 3), 11) + pad(f(s.flops / r.tensorSeconds / 1e9, 1), 9)
                  + pad(f(s.bytes / r.tensorSeconds / 1e9, 1), 7) + pad(f(r.sgemmSeconds * 1e3, 3), 10)
                  + pad(r.sgemvSeconds.map { f($0 * 1e3, 3) } ?? "-", 10) + pad(f(s.flops / base / 1e9, 1), 10)
                  + pad(f(s.bytes / base / 1e9, 1), 10) + pad(f(r.ratio, 2), 7)
                  + pad(r.rowKernelSeconds.map { f($0 * 1e3, 3) } ?? "-", 9)
                  + (r.rowKernelSeconds.map { f(s.bytes / $0 / 1e9, 1) } ?? "-"))
            fflush(nil)
        }
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
func f(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
