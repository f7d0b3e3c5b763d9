/// GPT-2's reversible map between the 256 byte values and 256 printable Unicode scalars, used by
/// byte-level BPE: every UTF-8 byte of the text becomes one visible character before BPE, so the
/// vocabulary never needs raw control or space bytes.
///
/// The printable bytes `!`…`~`, `¡`…`¬`, `®`…`ÿ` map to themselves; the remaining bytes, in
/// increasing order, map to U+0100, U+0101, … (so space 0x20 → `Ġ` U+0120, newline 0x0A → `Ċ` U+010A).
public enum ByteLevel {
    /// `byteToScalar[b]` is the character that stands for byte `b`.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `byteToScalar`: the byte a character stands for, nil for other characters.
    public static let scalarToByte: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s] = UInt8(b) }
        return map
    }()

    /// Maps the UTF-8 bytes of `scalars` to byte-level characters (the pre-tokenizer direction).
    static func encode(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count * 2)
        for s in scalars {
            UTF8.encode(s) { out.append(byteToScalar[Int($0)]) }
        }
        return out
    }

    /// The bytes a token string of byte-level characters stands for; when a character is outside
    /// the table (for example an added token written with a real space) the token's own UTF-8
    /// bytes are used, as Hugging Face `tokenizers` does.
    static func decode(_ token: String, into bytes: inout [UInt8]) {
        let start = bytes.count
        for s in token.unicodeScalars {
            guard let b = scalarToByte[s] else {
                bytes.removeSubrange(start...)
                bytes.append(contentsOf: token.utf8)
                return
            }
            bytes.append(b)
        }
    }
}
