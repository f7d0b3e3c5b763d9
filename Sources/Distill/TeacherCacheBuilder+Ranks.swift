import Cluster
import Formats
import Foundation

/// Teacher caches built by the ranks of a data-parallel job (`mpirun -np N specdistill cache
/// build …` or `train --teacher-cache` under `mpirun`).
///
/// Shard s (examples s·E ..< (s+1)·E) is computed by rank s mod N, so each rank runs the teacher
/// over about 1/N of the data and writes its own shard files (atomically, as one process does);
/// the files are byte-identical to a one-process build's. When every rank is done, rank 0 reads
/// each shard's header back, checks the file, and writes the one manifest, marked complete. An
/// interrupted build resumes with any N: a shard whose file is complete and valid is kept, any
/// other is recomputed by the rank it now falls to.
extension TeacherCacheBuilder {
    /// Builds (or resumes) the cache in `directory` with the ranks of `communicator`, and opens it
    /// on every rank. With one rank this is ``build(into:onEvent:)``.
    /// - Throws: a mismatch with an existing manifest (naming the field), an MPI failure, or what
    ///   `onEvent` throws. Events report this rank's shards only.
    @discardableResult
    public func build(into directory: URL, communicator: Communicator,
                      onEvent: (TeacherCacheEvent) throws -> Void = { _ in }) throws -> TeacherCache {
        guard communicator.size > 1 else { return try build(into: directory, onEvent: onEvent) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try validate()
        let count = dataset.examples.count, perShard = max(1, examplesPerShard)
        let shardCount = (count + perShard - 1) / perShard
        if let old = try TeacherCacheManifest.load(directory) {
            try old.check(identity, directory: directory)
            try checkResume(old, directory: directory)
            guard old.examples == count, old.examplesPerShard == perShard else {
                throw DistillError.data("teacher cache \(directory.path) has \(old.examples) examples in shards of \(old.examplesPerShard); this build has \(count) in shards of \(perShard): delete the directory and rebuild")
            }
        }
        // Temporary files of a killed build go before any rank starts writing new ones.
        if communicator.isRoot { AtomicFile.removeLeftovers(in: directory) }
        try communicator.barrier()
        let mine = Array(stride(from: communicator.rank, to: shardCount, by: communicator.size))
        let todo = mine.filter { intactShard($0, in: directory, perShard: perShard) == nil }
        let examples = mine.reduce(0) { $0 + min(count, ($1 + 1) * perShard) - $1 * perShard }
        try onEvent(.started(examples: examples, shards: mine.count, skipped: mine.count - todo.count))
        let run = ShardRun(builder: self)
        for shard in todo {
            let entry = try run.write(shard: shard, into: directory, perShard: perShard, onEvent: onEvent)
            try onEvent(.shardWritten(index: shard, file: entry.file))
        }
        try communicator.barrier()
        if communicator.isRoot {
            var manifest = TeacherCacheManifest(identity: identity, examples: count, examplesPerShard: perShard, complete: true, shards: [],
                                                weights: weights.rawValue)
            for shard in 0..<shardCount {
                guard let entry = intactShard(shard, in: directory, perShard: perShard) else {
                    throw DistillError.data("teacher cache \(directory.path): \(TeacherCacheShard.fileName(shard)) is missing or damaged after every rank finished (is the directory on a file system all hosts share, at the same path?)")
                }
                manifest.shards.append(entry)
            }
            try manifest.write(directory)
        }
        try communicator.barrier()
        try onEvent(.finished(positions: run.positionsDone, seconds: Date().timeIntervalSince(run.start)))
        return try TeacherCache(directory: directory, identity: identity)
    }

    /// The manifest entry of shard `shard`, read back from its file: nil unless the file exists,
    /// holds the shard's examples and passes ``TeacherCacheShard``'s checks.
    func intactShard(_ shard: Int, in directory: URL, perShard: Int) -> TeacherCacheManifest.Shard? {
        let first = shard * perShard, examples = min(dataset.examples.count, first + perShard) - first
        let file = TeacherCacheShard.fileName(shard), url = directory.appendingPathComponent(file)
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: TeacherCacheShard.headerBytes),
              header.count == TeacherCacheShard.headerBytes else { return nil }
        let rows = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self) }
        guard rows <= UInt64(Int.max / 16) else { return nil }
        let entry = TeacherCacheManifest.Shard(file: file, firstExample: first, examples: examples, rows: Int(rows),
                                               bytes: TeacherCacheShard.byteCount(examples: examples, rows: Int(rows), K: identity.topK))
        guard (try? TeacherCacheShard(url: url, expected: entry, identity: identity)) != nil else { return nil }
        return entry
    }
}
