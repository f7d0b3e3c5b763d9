import Foundation

/// A JSON object as read by `JSONReader`: its members in file order, keys exactly as written.
///
/// A vocabulary object (`model.vocab`) is read through `members`, never through a `String`-keyed
/// dictionary, which would merge canonically equivalent token texts (see `TokenText`).
struct JSONObject {
    let members: [(key: String, value: Any)]

    /// The value of the last member whose key has the bytes of `key` (a linear scan: meant for
    /// the field names of small objects, not for looking tokens up in a vocabulary).
    subscript(key: String) -> Any? {
        let k = TokenText(key)
        return members.last { TokenText($0.key) == k }?.value
    }

    var keys: [String] { members.map(\.key) }
}

/// Reads the tokenizer files (tokenizer.json, tokenizer_config.json) with every string kept
/// byte for byte.
///
/// Foundation's `JSONSerialization` on Linux drops a leading U+FEFF from every string (it
/// decodes each one as a UTF-8 document, whose byte-order mark is stripped), so gemma-4's
/// `"\u{FEFF}"` token became `""`; and its `[String: Any]` objects merge canonically equivalent
/// keys. Values are `String`, `Int` (integers that fit), `Double` (other numbers), `Bool`,
/// `NSNull`, `[Any]` and `JSONObject`.
enum JSONReader {
    /// Nesting deeper than this is refused (a corrupt or hostile file must not overflow the stack).
    static let maxDepth = 512

    /// Parses one JSON value (a UTF-8 byte-order mark before it is skipped).
    /// - Throws: `TokenizerError` naming the byte offset of the first syntax error.
    static func parse(_ data: Data) throws -> Any {
        try data.withUnsafeBytes { raw in
            var p = Parser(bytes: raw.bindMemory(to: UInt8.self))
            if p.bytes.count >= 3 && p.bytes[0] == 0xEF && p.bytes[1] == 0xBB && p.bytes[2] == 0xBF { p.i = 3 }
            let value = try p.value(depth: 0)
            p.skipSpace()
            guard p.i == p.bytes.count else { throw p.error("unexpected data after the JSON value") }
            return value
        }
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        func error(_ what: String) -> TokenizerError { TokenizerError("invalid JSON at byte \(i): \(what)") }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ literal: StaticString, _ value: Any) throws -> Any {
            let n = literal.utf8CodeUnitCount
            guard i + n <= bytes.count, (0..<n).allSatisfy({ bytes[i + $0] == literal.utf8Start[$0] }) else {
                throw error("expected \(literal)")
            }
            i += n
            return value
        }

        mutating func value(depth: Int) throws -> Any {
            guard depth < JSONReader.maxDepth else { throw error("nested deeper than \(JSONReader.maxDepth) levels") }
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of data") }
            switch bytes[i] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return try string()
            case UInt8(ascii: "t"): return try expect("true", true)
            case UInt8(ascii: "f"): return try expect("false", false)
            case UInt8(ascii: "n"): return try expect("null", NSNull())
            default: return try number()
            }
        }

        mutating func object(depth: Int) throws -> JSONObject {
            i += 1
            var members: [(key: String, value: Any)] = []
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return JSONObject(members: members) }
            while true {
                skipSpace()
                guard i < bytes.count && bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipSpace()
                guard i < bytes.count && bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < bytes.count else { throw error("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
                i += 1
                return JSONObject(members: members)
            }
        }

        mutating func array(depth: Int) throws -> [Any] {
            i += 1
            var items: [Any] = []
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return items }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw error("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
                i += 1
                return items
            }
        }

        /// A string from its opening quote; escapes decoded, the UTF-8 checked, nothing dropped.
        mutating func string() throws -> String {
            i += 1
            let start = i
            while i < bytes.count && bytes[i] != UInt8(ascii: "\"") && bytes[i] != UInt8(ascii: "\\") && bytes[i] >= 0x20 { i += 1 }
            guard i < bytes.count else { throw error("unterminated string") }
            if bytes[i] == UInt8(ascii: "\"") {
                // The common case: no escapes, the bytes are the string.
                defer { i += 1 }
                return try utf8(UnsafeBufferPointer(rebasing: bytes[start..<i]))
            }
            var out = Array(bytes[start..<i])
            while true {
                guard i < bytes.count else { throw error("unterminated string") }
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { i += 1; break }
                guard b >= 0x20 else { throw error("control character in a string") }
                guard b == UInt8(ascii: "\\") else { out.append(b); i += 1; continue }
                guard i + 1 < bytes.count else { throw error("unterminated escape") }
                i += 2
                switch bytes[i - 1] {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate \\u\(String(code, radix: 16))")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate \\u\(String(code, radix: 16))") }
                        code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw error("unpaired surrogate \\u\(String(code, radix: 16))")
                    }
                    UTF8.encode(Unicode.Scalar(code)!) { out.append($0) }
                default:
                    throw error("unknown escape")
                }
            }
            return try out.withUnsafeBufferPointer { try utf8($0) }
        }

        func utf8(_ b: UnsafeBufferPointer<UInt8>) throws -> String {
            guard let s = String(validating: b, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
            return s
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count else { throw error("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let d = Self.hexDigit(bytes[i]) else { throw error("bad \\u escape") }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        static func hexDigit(_ b: UInt8) -> UInt32? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }

        /// A number: `Int` when it is an integer that fits, else `Double`.
        mutating func number() throws -> Any {
            let start = i
            func digits() -> Int {
                let s = i
                while i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") { i += 1 }
                return i - s
            }
            if i < bytes.count && bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { i = start; throw error("unexpected character") }
            var integer = true
            if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
                i += 1
                integer = false
                guard digits() > 0 else { throw error("digits expected after '.'") }
            }
            if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
                i += 1
                integer = false
                if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
                guard digits() > 0 else { throw error("digits expected in the exponent") }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            if integer, let v = Int(text) { return v }
            guard let d = Double(text) else { throw error("bad number \(text)") }
            return d
        }
    }
}
