import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Pages are loaded by the OS on first touch, so
/// opening a large model costs nothing until tensors are read. The mapping lives as long as the
/// object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's bytes; empty (and not mapped) for a zero-length file.
    public let bytes: UnsafeRawBufferPointer
    private let mapped: Bool

    public init(url: URL) throws {
        path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw FormatError.io(file: path, operation: "open", detail: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FormatError.io(file: path, operation: "stat", detail: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError.io(file: path, operation: "map", detail: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            mapped = false
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw FormatError.io(file: path, operation: "mmap", detail: String(cString: strerror(errno)))
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
        mapped = true
    }

    public var count: Int { bytes.count }

    /// Drops the pages wholly inside `[p, p + byteCount)` from this process's resident set; `p`
    /// must point into a read-only private file mapping such as ``bytes``. Their contents stay
    /// valid: a later read loads them again from the file. For bytes already copied or parsed
    /// (a GGUF header, a repacked matrix), so they are not resident twice. A no-op off Linux.
    public static func releasePages(_ p: UnsafeRawPointer, byteCount: Int) {
        #if canImport(Glibc)
        let page = Int(sysconf(Int32(_SC_PAGESIZE))), start = (Int(bitPattern: p) + page - 1) / page * page
        let end = (Int(bitPattern: p) + byteCount) / page * page
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
        #endif
    }

    deinit {
        if mapped, let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}

/// Writes `body`'s output to a temporary file in the destination's directory, then renames it
/// over the destination (atomic on POSIX file systems), so readers never see a half-written file.
func writeAtomically(to url: URL, _ body: (FileHandle) throws -> Void) throws {
    let dir = url.deletingLastPathComponent()
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
        throw FormatError.io(file: url.path, operation: "create temporary file \(tmp.lastPathComponent)",
                             detail: "the directory does not exist or is not writable")
    }
    do {
        let handle = try FileHandle(forWritingTo: tmp)
        do {
            try body(handle)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            throw error
        }
        guard rename(tmp.path, url.path) == 0 else {
            throw FormatError.io(file: url.path, operation: "rename the temporary file into place",
                                 detail: String(cString: strerror(errno)))
        }
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        if error is FormatError { throw error }
        throw FormatError.io(file: url.path, operation: "write", detail: "\(error)")
    }
}
