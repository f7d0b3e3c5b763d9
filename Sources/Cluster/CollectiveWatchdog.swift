// The Cluster module owns data-parallel jobs over Open MPI: joining the job under `mpirun`
// (Communicator: rank, size, the rank-order gradient all-reduce, broadcast, barrier) and ending
// it with a clear message when a rank dies or hangs (CollectiveWatchdog). MPI's C API is reached
// through CMPI (the system library) and CMPIShim (C functions over its macro handles). A process
// started without `mpirun` never initialises MPI.
import CMPIShim
import Foundation

/// Ends the job when a collective waits too long: the other ranks are then dead or hung, and an
/// MPI collective would otherwise wait forever. (A rank that *exits* is noticed by `mpirun`
/// itself, which ends the job within about a second and names the rank; the watchdog covers a
/// rank that stops without exiting — stopped, deadlocked, or on a host that vanished.)
///
/// Two stages, so the message names the rank at fault:
/// 1. Before each collective, rank 0 waits up to `timeout` for an arrival message from every
///    other rank (``sd_mpi_arrival``) and, when some are missing, prints their ranks and aborts.
/// 2. A background thread on every rank (polling every 0.2 s) aborts a collective still running
///    after 2 × `timeout`: on rank 0 the collective itself stalled; on another rank, rank 0 never
///    reached it (stage 1 would otherwise have ended the job first).
/// MPI_Abort ends every rank with status 75. Nothing checkpointed is lost: checkpoints are renamed
/// into place complete (RunCheckpoint).
final class CollectiveWatchdog: @unchecked Sendable {
    /// Rank 0 evaluates and checkpoints while the others wait in the next step's all-reduce, so
    /// the timeout must exceed the longest evaluation plus checkpoint (minutes for large models).
    static let defaultTimeout = 900.0

    let rank: Int, size: Int, timeout: Double
    private let lock = NSLock()
    private var operation: String?
    private var since = Date()
    private var running = true

    init(rank: Int, size: Int, timeout: Double) {
        self.rank = rank; self.size = size; self.timeout = timeout
        let thread = Thread { [weak self] in self?.poll() }
        thread.name = "collective-watchdog"
        thread.start()
    }

    /// Stage 1 (rank 0 waits for the others; the others announce themselves), then marks `name`
    /// as running for stage 2.
    func begin(_ name: String) {
        var missing = [Int32](repeating: 0, count: size)
        let n = sd_mpi_arrival(timeout, &missing)
        if n > 0 {
            let ranks = missing.indices.filter { missing[$0] != 0 }.map(String.init).joined(separator: ", ")
            fail(String(format: "rank 0: rank%@ %@ did not reach %@ within %.0f s (SPECDISTILL_COLLECTIVE_TIMEOUT): %@ died or hang%@",
                        n > 1 ? "s" : "", ranks, name, timeout, n > 1 ? "they" : "it", n > 1 ? "" : "s"))
        }
        lock.lock(); operation = name; since = Date(); lock.unlock()
    }

    func end() { lock.lock(); operation = nil; lock.unlock() }
    func stop() { lock.lock(); running = false; lock.unlock() }

    private func poll() {
        while true {
            Thread.sleep(forTimeInterval: 0.2)
            lock.lock()
            let alive = running, op = operation, waited = Date().timeIntervalSince(since)
            lock.unlock()
            if !alive { return }
            if let op, waited > 2 * timeout {
                fail(rank == 0
                     ? String(format: "rank 0: %@ stalled for %.0f s after every rank arrived: the network or a rank failed", op, waited)
                     : String(format: "rank %d: %@ waited %.0f s: rank 0 has not reached it (it died or hangs)", rank, op, waited))
            }
        }
    }

    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "; ending the job (resume from the last checkpoint with --resume)\n").utf8))
        sd_mpi_abort(75)
        exit(75)
    }
}
