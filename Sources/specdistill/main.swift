import ArgumentParser
import SpecDistill

// The specdistill executable owns the command line, a thin layer over the SpecDistill library:
// one command per job (SpecDistillCommand lists them), shared option groups (ModelOptions,
// Options, LookupOptions), rendering of the library's events (ProgressBar) and the data-parallel
// job's end (DataParallelJob). The library prints nothing; this module does.

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
