/// A set of Unicode scalars as a pre-tokenizer regex names it: a bracket class `[^a-z\p{L}\s]`, an
/// escape (`\s`, `\S`, `\p{N}`, `\P{L}`), `.`, or one literal scalar (two or three under `(?i)`).
///
/// Meanings follow Oniguruma with Unicode (Hugging Face `tokenizers`' engine): `\p{X}` is the
/// general category X (one letter: the whole group, `L` = Lu Ll Lt Lm Lo), `\s` the White_Space
/// property, `.` any scalar but `\n`. ASCII is answered from a 128-bit table built once.
struct ScalarSet: Sendable {
    /// One member description; a scalar is in the set when any item holds (xor `negated`).
    enum Item: Sendable {
        case range(UInt32, UInt32)
        /// A mask of `GeneralCategoryBits` bits; `negated` for `\P{…}`.
        case category(UInt32, negated: Bool)
        /// `\s` (false) or `\S` (true).
        case whitespace(negated: Bool)
        /// A nested class.
        case set(ScalarSet)
    }

    private(set) var items: [Item] = []
    private(set) var negated = false
    /// Membership of the scalars 0..<128 (bit k of word k / 64).
    private var asciiLow: UInt64 = 0, asciiHigh: UInt64 = 0

    init(_ items: [Item], negated: Bool = false) {
        self.items = items
        self.negated = negated
        for v in 0..<128 where slowContains(Unicode.Scalar(UInt8(v))) {
            if v < 64 { asciiLow |= 1 << UInt64(v) } else { asciiHigh |= 1 << UInt64(v - 64) }
        }
    }

    /// `.`: every scalar except `\n` (Oniguruma's default, no multiline option).
    static let dot = ScalarSet([.range(0x0A, 0x0A)], negated: true)

    @inline(__always)
    func contains(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 64 { return asciiLow & (1 << UInt64(v)) != 0 }
        if v < 128 { return asciiHigh & (1 << UInt64(v - 64)) != 0 }
        return slowContains(c)
    }

    private func slowContains(_ c: Unicode.Scalar) -> Bool {
        var category: UInt32? = nil
        for item in items {
            let hit: Bool
            switch item {
            case .range(let lo, let hi):
                hit = c.value >= lo && c.value <= hi
            case .category(let mask, let neg):
                let bit = category ?? GeneralCategoryBits.of(c)
                category = bit
                hit = (mask & bit != 0) != neg
            case .whitespace(let neg):
                hit = c.properties.isWhitespace != neg
            case .set(let inner):
                hit = inner.contains(c)
            }
            if hit { return !negated }
        }
        return negated
    }
}

/// Unicode general categories as bits, and the `\p{…}` names a pattern may use.
enum GeneralCategoryBits {
    private static let codes = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
                                "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
                                "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"]

    /// The bit of `c`'s general category.
    @inline(__always)
    static func of(_ c: Unicode.Scalar) -> UInt32 {
        switch c.properties.generalCategory {
        case .uppercaseLetter: return 1 << 0
        case .lowercaseLetter: return 1 << 1
        case .titlecaseLetter: return 1 << 2
        case .modifierLetter: return 1 << 3
        case .otherLetter: return 1 << 4
        case .nonspacingMark: return 1 << 5
        case .spacingMark: return 1 << 6
        case .enclosingMark: return 1 << 7
        case .decimalNumber: return 1 << 8
        case .letterNumber: return 1 << 9
        case .otherNumber: return 1 << 10
        case .connectorPunctuation: return 1 << 11
        case .dashPunctuation: return 1 << 12
        case .openPunctuation: return 1 << 13
        case .closePunctuation: return 1 << 14
        case .initialPunctuation: return 1 << 15
        case .finalPunctuation: return 1 << 16
        case .otherPunctuation: return 1 << 17
        case .mathSymbol: return 1 << 18
        case .currencySymbol: return 1 << 19
        case .modifierSymbol: return 1 << 20
        case .otherSymbol: return 1 << 21
        case .spaceSeparator: return 1 << 22
        case .lineSeparator: return 1 << 23
        case .paragraphSeparator: return 1 << 24
        case .control: return 1 << 25
        case .format: return 1 << 26
        case .surrogate: return 1 << 27
        case .privateUse: return 1 << 28
        case .unassigned: return 1 << 29
        @unknown default: return 1 << 29
        }
    }

    /// The mask of a `\p{…}` name: a two-letter category (`Lu`) or a one-letter group (`L`, `M`,
    /// `N`, `P`, `S`, `Z`, `C`); nil for any other name (scripts, binary properties).
    static func mask(named name: String) -> UInt32? {
        if let k = codes.firstIndex(of: name) { return 1 << UInt32(k) }
        guard name.count == 1 else { return nil }
        let group = codes.indices.filter { codes[$0].hasPrefix(name) }
        return group.isEmpty ? nil : group.reduce(0) { $0 | 1 << UInt32($1) }
    }
}
