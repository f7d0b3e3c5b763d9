import ArgumentParser
import Foundation
import SpecDistill

/// `mpirun -np N specdistill bench allreduce`: the gradient all-reduce of data-parallel training,
/// its bandwidth and its exactness, on the job's ranks and network (as OSU's or nccl-tests'
/// all-reduce benchmarks, for the reduction the trainer uses).
struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time the gradient all-reduce on the ranks of an mpirun job and check it sums in rank order, bitwise.",
        discussion: """
        Run under mpirun (e.g. mpirun -np 2 specdistill bench allreduce). Each rank fills --floats values, \
        the ranks all-reduce them --repetitions times, and rank 0 prints the median and range of the \
        times, the bus bandwidth 2(N−1)/N · bytes / time (what each rank sends and receives), and the \
        number of elements that differ in any bit from the sum in rank order ((v₀ + v₁) + …) computed \
        locally; the command fails when that number is not 0.
        """)
    @Option(help: "Floats per rank (e.g. a draft's parameter count).") var floats = 32_000_000
    @Option(help: "Timed all-reduces.") var repetitions = 7

    func validate() throws {
        if floats < 1 { throw ValidationError("--floats must be ≥ 1, got \(floats)") }
        if repetitions < 1 { throw ValidationError("--repetitions must be ≥ 1, got \(repetitions)") }
    }

    func run() throws {
        Threads.configure(ThreadOptions.defaultCount)
        let job = try Job.start("bench allreduce")
        let r = try job.benchmarkAllReduce(floats: floats, repetitions: repetitions)
        let sorted = r.seconds.sorted(), median = sorted[sorted.count / 2]
        let bytes = Double(floats * MemoryLayout<Float>.stride)
        let bus = job.size > 1 ? 2 * Double(job.size - 1) / Double(job.size) * bytes / median : 0
        if job.isRoot {
            print(String(format: "specdistill bench allreduce — %d ranks (%d on this host), %d floats (%.1f MB) per rank, load average %@",
                         job.size, Communicator.localRanks(), floats, bytes / 1e6, loadAverage()))
            print(String(format: "median %.2f ms (%.2f–%.2f ms over %d), bus bandwidth %.2f GB/s; %d of %d elements differ from the rank-order sum",
                         median * 1e3, sorted.first! * 1e3, sorted.last! * 1e3, sorted.count, bus / 1e9, r.mismatches, floats))
        }
        if r.mismatches > 0 {
            throw ValidationError("rank \(job.rank): \(r.mismatches) elements differ from the rank-order sum: the all-reduce is not exact here")
        }
    }
}
