// The Formats module owns the bytes on disk: safetensors and GGUF readers and writers, ggml
// (de)quantisation, half floats, memory-mapped files and atomic writes. It has no tensor dependency.

import Foundation

/// Whole-file writes that `kill -9` at any moment cannot tear or litter.
///
/// ``write(_:to:)`` writes `DIR/.NAME.partial`, then renames it over `DIR/NAME` (rename(2) within
/// one directory is atomic): a reader sees the old file or the new one, never a part. The
/// temporary name is fixed per file, so a write killed half-way leaves at most one `.partial` file,
/// which the next write of that file replaces and ``removeLeftovers(in:)`` deletes. (Foundation's
/// `Data.write(options: .atomic)` is atomic too, but on Linux a kill leaves its randomly named
/// `.dat.nosync…` temporary file behind for good: a resumed teacher-cache build was byte-identical
/// except for those.)
public enum AtomicFile {
    /// Suffix of the temporary file of an unfinished write.
    public static let partialSuffix = ".partial"

    /// Writes `data` to `url` atomically (see the type's documentation).
    /// - Throws: the underlying write or rename error, naming the file.
    public static func write(_ data: Data, to url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + partialSuffix)
        try data.write(to: tmp)
        guard rename(tmp.path, url.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: tmp)
            throw FormatError.io(file: url.path, operation: "rename \(tmp.lastPathComponent) into place",
                                 detail: String(cString: strerror(code)) + "; check that the directory is writable")
        }
    }

    /// Deletes what killed writes left in `directory` (not recursively): `.*.partial` files of
    /// ``write(_:to:)`` and Foundation's `.dat.nosync*` temporary files.
    /// - Returns: the names removed.
    @discardableResult
    public static func removeLeftovers(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let stale = names.filter { ($0.hasPrefix(".") && $0.hasSuffix(partialSuffix)) || $0.hasPrefix(".dat.nosync") }
        for name in stale { try? FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        return stale
    }
}
