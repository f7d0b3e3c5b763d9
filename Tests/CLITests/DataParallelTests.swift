import Foundation
import XCTest

/// `mpirun -np N specdistill pretrain|train|cache build` (README, "Training on several machines").
///
/// The oracle is one process: N ranks with one micro-batch each make exactly the float additions
/// of one process accumulating N micro-batches (Trainer+DataParallel: each micro-batch's gradient
/// summed on its own, ranks summed in rank order), so parameters and losses are compared
/// **bitwise**; with two micro-batches per rank the grouping differs and losses agree to rounding.
final class DataParallelTests: XCTestCase {
    func testTwoRanksEqualOneProcessAccumulatingTwoMicroBatchesBitwise() throws {
        let dir = try MPIJob.scratch(self)
        try MPIJob.require(try MPIJob.run(ranks: 1, try MPIJob.pretrain(out: "one", microBatches: 2), in: dir), "1 process")
        try MPIJob.require(try MPIJob.run(ranks: 2, try MPIJob.pretrain(out: "two", microBatches: 2), in: dir), "2 ranks")
        let one = try MPIJob.steps(dir.appendingPathComponent("one")), two = try MPIJob.steps(dir.appendingPathComponent("two"))
        XCTAssertEqual(one.count, 10)
        XCTAssertEqual(one, two, "losses and gradient norms of every step")
        XCTAssertEqual(try MPIJob.bytes(dir.appendingPathComponent("one")), try MPIJob.bytes(dir.appendingPathComponent("two")),
                       "parameters after 10 AdamW steps")
        // The run record says how many ranks ran (rank 0 writes it).
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("two/checkpoint/trainer_state.json"), encoding: .utf8).contains("\"step\" : 10"))
    }

    func testTwoMicroBatchesPerRankAgreeToRoundingAndReproduce() throws {
        let dir = try MPIJob.scratch(self)
        try MPIJob.require(try MPIJob.run(ranks: 1, try MPIJob.pretrain(out: "one", microBatches: 4), in: dir), "1 process")
        try MPIJob.require(try MPIJob.run(ranks: 2, try MPIJob.pretrain(out: "a", microBatches: 4), in: dir), "2 ranks")
        try MPIJob.require(try MPIJob.run(ranks: 2, try MPIJob.pretrain(out: "b", microBatches: 4), in: dir), "2 ranks again")
        let one = try MPIJob.steps(dir.appendingPathComponent("one")), a = try MPIJob.steps(dir.appendingPathComponent("a"))
        XCTAssertEqual(a, try MPIJob.steps(dir.appendingPathComponent("b")), "a job with a fixed rank count reproduces bitwise")
        XCTAssertEqual(one.count, a.count)
        // Step 1's loss comes before any update: (l0 + l1) + (l2 + l3) vs ((l0 + l1) + l2) + l3 in
        // doubles. Later steps follow parameters whose gradients differ by float rounding
        // (|Δg| ≤ 3ε Σ|g_j|, ε = 2⁻²⁴) through 10 AdamW steps of lr 1e-3: far below 1e-4 relative.
        XCTAssertEqual(one[0].loss, a[0].loss, accuracy: 1e-12 * one[0].loss)
        for (x, y) in zip(one, a) { XCTAssertEqual(x.loss, y.loss, accuracy: 1e-4 * x.loss, "step \(x.step)") }
    }

    func testResumeWithAnotherRankCountContinuesTheSameRun() throws {
        let dir = try MPIJob.scratch(self)
        try MPIJob.require(try MPIJob.run(ranks: 1, try MPIJob.pretrain(out: "whole", microBatches: 2), in: dir), "uninterrupted")
        for (first, second) in [(2, 1), (1, 2)] {
            let out = "r\(first)\(second)"
            try MPIJob.require(try MPIJob.run(ranks: first, try MPIJob.pretrain(out: out, microBatches: 2, extra: ["--stop-at-step", "5"]), in: dir),
                        "\(first) rank(s) to step 5")
            XCTAssertEqual(try MPIJob.steps(dir.appendingPathComponent(out)).count, 5)
            let r = try MPIJob.run(ranks: second, try MPIJob.pretrain(out: out, microBatches: 2, extra: ["--resume"]), in: dir)
            try MPIJob.require(r, "resume on \(second)")
            XCTAssertTrue(r.stderr.contains("at step 5"), r.transcript)
            XCTAssertEqual(try MPIJob.steps(dir.appendingPathComponent(out)), try MPIJob.steps(dir.appendingPathComponent("whole")), "\(first) → \(second)")
            XCTAssertEqual(try MPIJob.bytes(dir.appendingPathComponent(out)), try MPIJob.bytes(dir.appendingPathComponent("whole")), "\(first) → \(second)")
        }
    }

    /// Rank 1 runs in a bubblewrap sandbox where the run directory is read-only: any file it
    /// wrote (metrics, checkpoint, model, logs) would end the job with an error.
    func testOnlyRankZeroWrites() throws {
        let mpirun = try MPIJob.mpirun(), binary = try CLI.binaryPath()
        guard let bwrap = ["/usr/bin/bwrap", "/bin/bwrap"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            let message = "bwrap not found (Debian: bubblewrap; Scripts/test installs it)"
            if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail(message) }
            throw XCTSkip(message)
        }
        let dir = try MPIJob.scratch(self), out = dir.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let args = try MPIJob.pretrain(out: out.path, microBatches: 2)
        let r = try CLI.run(executable: mpirun, arguments: MPIJob.launcherFlags + ["-np", "1", binary] + args
                            + [":", "-np", "1", bwrap, "--dev-bind", "/", "/", "--ro-bind", out.path, out.path, binary] + args, in: dir)
        try MPIJob.require(r, "rank 1 read-only")
        XCTAssertEqual(try MPIJob.steps(out).map(\.step), Array(1...10), "each step logged once")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("model/model.safetensors").path))
    }

    func testRanksBuildOneTeacherCacheIdenticalToOneProcess() throws {
        let f = try CLIFixture.get(), dir = try MPIJob.scratch(self)
        let args = { (out: String) in ["cache", "build", "-m", f.target, "--data", f.pairs, "--out", out, "--top-k", "8",
                                       "--context", "32", "--examples-per-shard", "3", "--cache-batch-size", "2"] }
        try MPIJob.require(try MPIJob.run(ranks: 1, args("one"), in: dir), "1 process")
        try MPIJob.require(try MPIJob.run(ranks: 2, args("two"), in: dir), "2 ranks")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("one").path).sorted()
        XCTAssertEqual(names, ["manifest.json", "shard-00000.bin", "shard-00001.bin", "shard-00002.bin"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("two").path).sorted(), names)
        for name in names { XCTAssertEqual(try MPIJob.bytes(dir.appendingPathComponent("one"), name), try MPIJob.bytes(dir.appendingPathComponent("two"), name), name) }
        // Distilling from it on two ranks equals one process accumulating two micro-batches.
        let train = { (out: String) in ["train", "-m", f.target, "--draft-from-target", "1", "--data", f.pairs, "--eval-data", f.pairs,
                                        "--teacher-cache", dir.appendingPathComponent("one").path, "--top-k", "8", "--context", "32",
                                        "--steps", "4", "--batch-size", "2", "--grad-accum", "2", "--eval-examples", "2",
                                        "--save-every", "0", "--out", out] }
        try MPIJob.require(try MPIJob.run(ranks: 1, train("d1"), in: dir), "train, 1 process")
        try MPIJob.require(try MPIJob.run(ranks: 2, train("d2"), in: dir), "train, 2 ranks")
        XCTAssertEqual(try MPIJob.steps(dir.appendingPathComponent("d1")), try MPIJob.steps(dir.appendingPathComponent("d2")))
        XCTAssertEqual(try MPIJob.bytes(dir.appendingPathComponent("d1")), try MPIJob.bytes(dir.appendingPathComponent("d2")))
    }

    /// Three ranks, counts that cross the 2²⁰-float pieces and are not multiples of 3 (the padded
    /// last piece): every element equals the rank-order sum, bitwise, on every rank.
    func testAllReduceSumsInRankOrderBitwise() throws {
        let dir = try MPIJob.scratch(self)
        for floats in [1, 7, 2_097_155] {
            let r = try MPIJob.run(ranks: 3, ["bench", "allreduce", "--floats", "\(floats)", "--repetitions", "2"], in: dir)
            try MPIJob.require(r, "bench allreduce --floats \(floats)")
            XCTAssertTrue(r.stdout.contains("0 of \(floats) elements differ"), r.transcript)
        }
    }

    func testPCLIsRefusedOnSeveralRanks() throws {
        let f = try CLIFixture.get(), dir = try MPIJob.scratch(self)
        let r = try MPIJob.run(ranks: 2, ["train", "-m", f.target, "--draft-from-target", "1", "--data", f.pairs, "--eval-data", f.pairs,
                                   "--method", "pcl", "--steps", "1", "--out", "p"], in: dir)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("runs on one process"), r.transcript)
    }
}

/// Runs of the binary on N ranks, and what the data-parallel tests read back from run directories.
enum MPIJob {
    /// Open MPI's launcher, or a skip (a failure under CI=true: Scripts/test installs Open MPI).
    static func mpirun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        let message = "mpirun not found: install Open MPI (Debian: openmpi-bin libopenmpi-dev; Scripts/test does)"
        if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail(message); throw CLIError(message) }
        throw XCTSkip(message)
    }

    /// mpirun's options for these tests: root allowed (containers), more ranks than cores allowed.
    static let launcherFlags = ["--allow-run-as-root", "--oversubscribe"]

    /// Runs `specdistill ARGS` on `ranks` ranks (1: without mpirun).
    static func run(ranks: Int, _ args: [String], in dir: URL, environment: [String: String] = [:]) throws -> CLI.Result {
        if ranks == 1 { return try CLI.run(executable: try CLI.binaryPath(), arguments: args, in: dir, environment: environment) }
        return try CLI.run(executable: try Self.mpirun(), arguments: Self.launcherFlags + ["-np", "\(ranks)", try CLI.binaryPath()] + args,
                           in: dir, environment: environment)
    }

    /// A new directory, removed when `test` ends.
    static func scratch(_ test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("specdistill-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Pretraining arguments of a tiny model on the fixture's text: M micro-batches of B = 2.
    static func pretrain(out: String, microBatches: Int, steps: Int = 10, extra: [String] = []) throws -> [String] {
        let f = try CLIFixture.get()
        return ["pretrain", "--data", f.directory.appendingPathComponent("text.jsonl").path, "--model-config", "tiny",
                "--tokenizer", f.target + "/tokenizer.json", "--out", out, "--steps", "\(steps)", "--batch-size", "2",
                "--grad-accum", "\(microBatches)", "--context", "32", "--warmup", "2", "--save-every", "5", "--eval-every", "5"] + extra
    }

    struct Step: Decodable, Equatable { var step: Int; var loss: Double; var gradNorm: Double }

    static func steps(_ dir: URL) throws -> [Step] {
        try String(decoding: Data(contentsOf: dir.appendingPathComponent("metrics.jsonl")), as: UTF8.self)
            .split(whereSeparator: \.isNewline).map { try JSONDecoder().decode(Step.self, from: Data($0.utf8)) }
    }

    static func bytes(_ dir: URL, _ file: String = "model/model.safetensors") throws -> Data {
        try Data(contentsOf: dir.appendingPathComponent(file))
    }

    static func require(_ r: CLI.Result, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard r.status == 0 else { XCTFail("\(what) failed\n\(r.transcript)", file: file, line: line); throw CLIError(what) }
    }
}
