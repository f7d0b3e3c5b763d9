import ArgumentParser
import Foundation
import SpecDistill

/// The data-parallel job a command runs in: `mpirun -np N specdistill train|pretrain|cache build`
/// (see README, "Training on several machines"). Outside `mpirun` it is one process and nothing
/// changes.
enum Job {
    /// Whether this process prints progress: every process outside `mpirun`, rank 0 inside
    /// (read from the launcher's environment, so it holds before MPI starts).
    static let printsProgress: Bool = {
        let e = ProcessInfo.processInfo.environment
        return (e["OMPI_COMM_WORLD_RANK"] ?? e["PMIX_RANK"]).map { $0 == "0" } ?? true
    }()

    /// Joins the job (MPI_Init under `mpirun`; ``Communicator/single`` otherwise), names the ranks
    /// and threads on stderr, and refuses `what` when it cannot run on several ranks.
    static func start(_ command: String, supported: Bool = true, why: String = "") throws -> Communicator {
        let c = try Communicator.world()
        guard c.size > 1 else { return c }
        guard supported else { throw ValidationError("\(command) runs on one process: \(why); start it without mpirun") }
        printErr("\(command): rank \(c.rank) of \(c.size) (data-parallel over MPI), \(Threads.count) threads per rank, "
                 + "\(Communicator.localRanks()) ranks on this host")
        return c
    }

    /// Ends MPI after a successful command (MPI_Finalize; nothing outside `mpirun`).
    static func finish() { Communicator.current?.finalize() }

    /// After an error on one rank of a job: prints it naming the rank and ends every rank at once
    /// (MPI_Abort), instead of leaving the others waiting in a collective. Returns outside a job.
    static func abortOthers(after error: Error) {
        guard let c = Communicator.current, c.size > 1 else { return }
        FileHandle.standardError.write(Data("rank \(c.rank): \(SpecDistillCommand.message(for: error))\n".utf8))
        c.abort(code: 1)
    }
}
