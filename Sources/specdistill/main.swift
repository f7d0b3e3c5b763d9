import ArgumentParser
import Foundation
import SpecDistill

// The specdistill executable owns the command line, a thin layer over the SpecDistill library:
// one command per job (SpecDistillCommand lists them), shared option groups (ModelOptions,
// Options, LookupOptions), rendering of the library's events (ProgressBar) and the data-parallel
// job's end (DataParallelJob). The library prints nothing; this module does.

// OpenBLAS that did not recognise this CPU runs its oldest kernels (5x slower sgemm on an AVX-512
// Xeon with Debian's 0.3.21): restart once with OPENBLAS_CORETYPE naming the right ones (BLASCore).
// The kernels are chosen when the library loads, so the variable must be set before the process starts.
if let (name, value) = BLASCore.restartArgumentsForBestKernels() {
    setenv(name, value, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)   // returns only if the restart failed: go on as we are
} else if let note = BLASCore.weakerKernelsNote {
    FileHandle.standardError.write(Data((note + "\n").utf8))   // the user's setting wins; say what it costs
}

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
