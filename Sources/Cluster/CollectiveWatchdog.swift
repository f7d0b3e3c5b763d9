import CMPIShim
import Foundation

/// Ends the job when one collective waits longer than a timeout: the other ranks are then dead or
/// hung, and an MPI collective would otherwise wait forever. (A rank that exits is noticed by
/// `mpirun` itself, which ends the job and names the rank; the watchdog covers a rank that stops
/// without exiting — stopped, deadlocked, or on a host that vanished.)
///
/// One background thread polls every 0.2 s; on timeout it prints the rank, the operation and the
/// wait to standard error and calls MPI_Abort, which ends every rank with a non-zero status.
/// Nothing checkpointed is lost: checkpoints are renamed into place complete (RunCheckpoint).
final class CollectiveWatchdog: @unchecked Sendable {
    /// Rank 0 evaluates and checkpoints while the others wait in the next step's all-reduce, so
    /// the timeout must exceed the longest evaluation plus checkpoint (minutes for large models).
    static let defaultTimeout = 900.0

    let rank: Int, timeout: Double
    private let lock = NSLock()
    private var operation: String?
    private var since = Date()
    private var running = true

    init(rank: Int, timeout: Double) {
        self.rank = rank; self.timeout = timeout
        let thread = Thread { [weak self] in self?.poll() }
        thread.name = "collective-watchdog"
        thread.start()
    }

    func begin(_ name: String) { lock.lock(); operation = name; since = Date(); lock.unlock() }
    func end() { lock.lock(); operation = nil; lock.unlock() }
    func stop() { lock.lock(); running = false; lock.unlock() }

    private func poll() {
        while true {
            Thread.sleep(forTimeInterval: 0.2)
            lock.lock()
            let alive = running, op = operation, waited = Date().timeIntervalSince(since)
            lock.unlock()
            if !alive { return }
            if let op, waited > timeout {
                let message = String(format: "rank %d: %@ waited %.0f s for the other ranks (timeout %.0f s, SPECDISTILL_COLLECTIVE_TIMEOUT): "
                                     + "another rank has died or hangs; ending the job (resume from the last checkpoint with --resume)\n",
                                     rank, op, waited, timeout)
                FileHandle.standardError.write(Data(message.utf8))
                sd_mpi_abort(75)
            }
        }
    }
}
