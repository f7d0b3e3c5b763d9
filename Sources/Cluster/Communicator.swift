import CMPIShim
import Foundation

/// The processes of a data-parallel job and the collective operations between them.
///
/// A process started by `mpirun` (Open MPI sets `OMPI_COMM_WORLD_SIZE`, PMIx sets `PMIX_RANK`)
/// joins `MPI_COMM_WORLD` the first time ``world()`` is called; any other process gets
/// ``single``, a communicator of one rank whose collectives return at once and touch no buffer,
/// so MPI is never initialised and a plain run behaves exactly as without this module.
///
/// Collectives must be called by every rank in the same order, from the thread that called
/// ``world()`` (MPI_THREAD_FUNNELED). Sums add the ranks' values in rank order, not in the tree
/// MPI_Allreduce would choose by message size, so a job's results are bitwise reproducible and a
/// sum over ranks equals the same additions made in one process.
public final class Communicator: @unchecked Sendable {
    /// This process's rank in 0..<size.
    public let rank: Int
    /// Number of processes in the job.
    public let size: Int
    private let usesMPI: Bool
    /// Guards collectives against a rank that died or hangs (nil for one process).
    private let watchdog: CollectiveWatchdog?

    /// The one-process communicator: every collective is a no-op.
    public static let single = Communicator(rank: 0, size: 1, usesMPI: false)

    /// Rank 0 writes the run's files (metrics, evaluations, checkpoints).
    public var isRoot: Bool { rank == 0 }

    private init(rank: Int, size: Int, usesMPI: Bool, watchdog: CollectiveWatchdog? = nil) {
        self.rank = rank; self.size = size; self.usesMPI = usesMPI; self.watchdog = watchdog
    }

    /// Whether the environment says this process was started by `mpirun` / a PMIx launcher.
    public static func launchedByMPI(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// Processes of this job on this host (`OMPI_COMM_WORLD_LOCAL_SIZE`; 1 outside `mpirun`):
    /// they share the host's cores, so each should use cores / local ranks threads.
    public static func localRanks(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        guard launchedByMPI(environment) else { return 1 }
        return max(1, Int(environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1)
    }

    // Swift 6 exception: guarded by `lock` (Synchronization.Mutex needs macOS 15; the package supports 13).
    nonisolated(unsafe) private static var started: Communicator?
    private static let lock = NSLock()

    /// The job's communicator: MPI_COMM_WORLD under `mpirun` (initialising MPI on the first call),
    /// else ``single``.
    /// - Throws: ``ClusterError`` when MPI fails to initialise.
    public static func world() throws -> Communicator {
        lock.lock(); defer { lock.unlock() }
        if let started { return started }
        guard launchedByMPI() else { started = single; return single }
        var rank: Int32 = 0, size: Int32 = 1
        let rc = sd_mpi_init(&rank, &size)
        guard rc == 0 else { throw ClusterError(operation: "MPI_Init_thread", code: rc, rank: nil) }
        let timeout = ProcessInfo.processInfo.environment["SPECDISTILL_COLLECTIVE_TIMEOUT"].flatMap(Double.init)
            ?? CollectiveWatchdog.defaultTimeout
        let c = Communicator(rank: Int(rank), size: Int(size), usesMPI: true,
                             watchdog: size > 1 && timeout > 0 ? CollectiveWatchdog(rank: Int(rank), size: Int(size), timeout: timeout) : nil)
        started = c
        return c
    }

    /// The communicator ``world()`` returned, if it was called.
    public static var current: Communicator? {
        lock.lock(); defer { lock.unlock() }
        return started
    }

    /// In place: `buffer[i] ← ((b₀[i] + b₁[i]) + …) + b_{N−1}[i]`, the ranks' buffers summed in
    /// rank order (``sd_mpi_allreduce_sum_float_ordered``), the same bits on every rank and in
    /// every run whatever reduction algorithm MPI would choose.
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        guard usesMPI, size > 1 else { return }
        try check(watched("MPI_Alltoall/MPI_Allgather (gradient all-reduce)") {
            sd_mpi_allreduce_sum_float_ordered(buffer, count)
        }, "gradient all-reduce")
    }

    /// Every rank's `values`, in rank order: element `r · values.count + i` is rank r's `values[i]`.
    public func allGather(_ values: [Double]) throws -> [Double] {
        guard usesMPI, size > 1, !values.isEmpty else { return values }
        var all = [Double](repeating: 0, count: values.count * size)
        let n = Int32(values.count)
        try check(values.withUnsafeBufferPointer { mine in
            all.withUnsafeMutableBufferPointer { p in watched("MPI_Allgather") { sd_mpi_allgather_double(mine.baseAddress!, n, p.baseAddress!) } }
        }, "MPI_Allgather")
        return all
    }

    /// In place: `values[i] ← ((v₀[i] + v₁[i]) + …)`, summed in rank order (losses, token counts).
    public func allReduceSum(_ values: inout [Double]) throws {
        guard usesMPI, size > 1, !values.isEmpty else { return }
        let all = try allGather(values)
        for i in values.indices {
            var sum = all[i]
            for r in 1..<size { sum += all[r * values.count + i] }
            values[i] = sum
        }
    }

    /// Copies `bytes` bytes at `buffer` from rank `root` to every other rank.
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int = 0) throws {
        guard usesMPI, size > 1 else { return }
        var offset = 0
        while offset < bytes {
            let n = min(bytes - offset, Self.maxChunk)
            try check(watched("MPI_Bcast") { sd_mpi_broadcast(buffer + offset, Int32(n), Int32(root)) }, "MPI_Bcast")
            offset += n
        }
    }

    /// Rank `root`'s `value` on every rank (JSON-encoded, length first).
    public func broadcast<T: Codable>(_ value: T, root: Int = 0) throws -> T {
        guard usesMPI, size > 1 else { return value }
        var data = rank == root ? try JSONEncoder().encode(value) : Data()
        var length = Int64(data.count)
        try broadcast(&length, bytes: 8, root: root)
        if rank != root { data = Data(count: Int(length)) }
        try data.withUnsafeMutableBytes { try broadcast($0.baseAddress!, bytes: Int(length), root: root) }
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// Returns when every rank has called it.
    public func barrier() throws {
        guard usesMPI, size > 1 else { return }
        try check(watched("MPI_Barrier") { sd_mpi_barrier() }, "MPI_Barrier")
    }

    /// Ends MPI (MPI_Finalize) when this process initialised it; call once, at exit.
    public func finalize() {
        guard usesMPI, sd_mpi_active() != 0 else { return }
        watchdog?.stop()
        _ = sd_mpi_finalize()
    }

    /// Ends every rank of the job (MPI_Abort); for one process, `exit(code)`.
    public func abort(code: Int32) -> Never {
        if usesMPI { sd_mpi_abort(code) }
        exit(code)
    }

    /// MPI counts are 32-bit: larger broadcasts go in chunks of 2^30 bytes.
    static let maxChunk = 1 << 30

    private func watched(_ name: String, _ body: () -> Int32) -> Int32 {
        watchdog?.begin(name)
        defer { watchdog?.end() }
        return body()
    }

    private func check(_ code: Int32, _ operation: String) throws {
        guard code != 0 else { return }
        throw ClusterError(operation: operation, code: code, rank: rank)
    }
}

/// An MPI call that failed, with MPI's error text.
public struct ClusterError: Error, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var rank: Int?
    public var description: String {
        var text = [CChar](repeating: 0, count: 512)
        sd_mpi_error_string(code, &text, Int32(text.count))
        let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(rank.map { "rank \($0): " } ?? "")\(operation) failed (MPI error \(code): \(message)); "
            + "a rank may have died or the network failed — resume from the last checkpoint with --resume"
    }
}

/// `specdistill bench allreduce`: the gradient all-reduce's time and its exactness on this job.
extension Communicator {
    /// Rank r's value at index i in ``benchmarkAllReduce(floats:repetitions:)``: varied, with
    /// low-order bits that float addition rounds away differently in other orders.
    static func testValue(rank: Int, index i: Int) -> Float {
        Float((i &* 7 &+ rank &* 13) % 101) * 0.37 + 1 / Float(rank + 1) + Float(i % 3) * 1e-7
    }

    /// All-reduces `floats` values `repetitions` times (a barrier before each) and checks the
    /// result against the rank-order sum ((v₀ + v₁) + …) computed locally from every rank's
    /// (deterministic) values: returns the seconds of each repetition and the number of elements
    /// that differ from that sum in any bit (0 when the reduction is exact and ordered).
    public func benchmarkAllReduce(floats: Int, repetitions: Int) throws -> (seconds: [Double], mismatches: Int) {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(floats, 1))
        defer { buffer.deallocate() }
        var seconds: [Double] = [], mismatches = 0
        for _ in 0..<max(1, repetitions) {
            for i in 0..<floats { buffer[i] = Self.testValue(rank: rank, index: i) }
            try barrier()
            let t0 = Date()
            try allReduceSum(buffer, count: floats)
            seconds.append(Date().timeIntervalSince(t0))
            mismatches = 0
            for i in 0..<floats {
                var sum = Self.testValue(rank: 0, index: i)
                for r in 1..<max(size, 1) { sum += Self.testValue(rank: r, index: i) }
                if sum.bitPattern != buffer[i].bitPattern { mismatches += 1 }
            }
        }
        return (seconds, mismatches)
    }
}
