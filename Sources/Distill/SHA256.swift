import Foundation

/// SHA-256 (FIPS 180-4) of a file, streamed in 4 MiB chunks: binds a teacher cache to the exact
/// target model and data files.
public enum SHA256 {
    static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// Hex digest of `data`.
    public static func hex(_ data: Data) -> String {
        var h = State()
        data.withUnsafeBytes { h.update(UnsafeRawBufferPointer($0)) }
        return h.finish()
    }

    /// Hex digest of the file at `url`; a directory hashes its files in sorted order (names included).
    public static func hex(fileAt url: URL) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw DistillError.data("\(url.path): no such file to hash")
        }
        var h = State()
        let files = isDir.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: url.path).sorted().map { url.appendingPathComponent($0) }
            : [url]
        for f in files {
            if isDir.boolValue { Data(f.lastPathComponent.utf8).withUnsafeBytes { h.update($0) } }
            let handle = try FileHandle(forReadingFrom: f)
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
                chunk.withUnsafeBytes { h.update($0) }
            }
        }
        return h.finish()
    }

    struct State {
        var s: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var buffer = [UInt8](); var length: UInt64 = 0
        var w = [UInt32](repeating: 0, count: 64)  // message schedule, reused

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            length &+= UInt64(bytes.count)
            var i = 0
            if !buffer.isEmpty {
                while i < bytes.count && buffer.count < 64 { buffer.append(bytes[i]); i += 1 }
                if buffer.count == 64 { buffer.withUnsafeBytes { block($0.baseAddress!) }; buffer.removeAll(keepingCapacity: true) }
            }
            while i + 64 <= bytes.count { block(bytes.baseAddress! + i); i += 64 }
            while i < bytes.count { buffer.append(bytes[i]); i += 1 }
        }

        mutating func finish() -> String {
            let bits = length &* 8
            var tail: [UInt8] = [0x80]
            while (buffer.count + tail.count) % 64 != 56 { tail.append(0) }
            for b in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(b)))) }
            let saved = length
            tail.withUnsafeBytes { update($0) }
            length = saved
            return s.map { String(format: "%08x", $0) }.joined()
        }

        @inline(__always) static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

        mutating func block(_ p: UnsafeRawPointer) {
            for t in 0..<16 {
                let b = p + 4 * t
                w[t] = UInt32(b.load(fromByteOffset: 0, as: UInt8.self)) << 24 | UInt32(b.load(fromByteOffset: 1, as: UInt8.self)) << 16
                    | UInt32(b.load(fromByteOffset: 2, as: UInt8.self)) << 8 | UInt32(b.load(fromByteOffset: 3, as: UInt8.self))
            }
            for t in 16..<64 {
                let s0 = State.rotr(w[t - 15], 7) ^ State.rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = State.rotr(w[t - 2], 17) ^ State.rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7]
            for t in 0..<64 {
                let t1 = h &+ (State.rotr(e, 6) ^ State.rotr(e, 11) ^ State.rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ SHA256.k[t] &+ w[t]
                let t2 = (State.rotr(a, 2) ^ State.rotr(a, 13) ^ State.rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                h = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
            }
            s[0] &+= a; s[1] &+= b; s[2] &+= c; s[3] &+= d; s[4] &+= e; s[5] &+= f; s[6] &+= g; s[7] &+= h
        }
    }
}
