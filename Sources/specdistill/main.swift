import ArgumentParser
import SpecDistill

// SpecDistillCommand.main(), with the data-parallel job ended cleanly: MPI_Finalize after success,
// MPI_Abort of every rank after an error on one (DataParallelJob).
do {
    var command = try SpecDistillCommand.parseAsRoot()
    try command.run()
    Job.finish()
} catch {
    Job.abortOthers(after: error)
    SpecDistillCommand.exit(withError: error)
}
