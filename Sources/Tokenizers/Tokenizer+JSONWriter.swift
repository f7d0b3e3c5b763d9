import Foundation

extension Tokenizer {
    /// A Hugging Face tokenizer.json describing this tokenizer, which `tokenizers` loads and which
    /// encodes the same ids (for example to write a model directory from a GGUF vocabulary).
    ///
    /// Score-ranked (SentencePiece) vocabularies are written with merges derived from the scores
    /// as Hugging Face's SentencePiece converter does: every split of a token into two tokens is
    /// a merge, ordered by the merged token's score, highest first.
    public func tokenizerJSON() -> Data {
        var root: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
        ]
        root["added_tokens"] = addedTokens.sorted { $0.id < $1.id }.map { t -> [String: Any] in
            ["id": t.id, "content": t.content, "single_word": false, "lstrip": t.lstrip, "rstrip": t.rstrip,
             "normalized": false, "special": t.special]
        }
        root["normalizer"] = normalizers.isEmpty ? NSNull() as Any : [
            "type": "Sequence",
            "normalizers": normalizers.map { n -> [String: Any] in
                switch n {
                case .prepend(let p): return ["type": "Prepend", "prepend": p]
                case .replace(let p, let c): return ["type": "Replace", "pattern": ["String": p], "content": c]
                case .nfc: return ["type": "NFC"]
                }
            },
        ] as [String: Any]
        root["pre_tokenizer"] = preTokenizers.isEmpty ? NSNull() as Any : [
            "type": "Sequence",
            "pretokenizers": preTokenizers.map(Self.json(_:)),
        ] as [String: Any]
        if prefixIDs.isEmpty && suffixIDs.isEmpty {
            root["post_processor"] = decoders.contains(.byteLevel)
                ? ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true] as [String: Any]
                : NSNull()
        } else {
            let ids = Set(prefixIDs + suffixIDs)
            let item = { (id: Int) -> [String: Any] in ["SpecialToken": ["id": self.piece(id), "type_id": 0]] }
            let single = prefixIDs.map(item) + [["Sequence": ["id": "A", "type_id": 0]]] + suffixIDs.map(item)
            let pair = prefixIDs.map(item) + [["Sequence": ["id": "A", "type_id": 0]]] + suffixIDs.map(item)
                + prefixIDs.map(item) + [["Sequence": ["id": "B", "type_id": 1]]] + suffixIDs.map(item)
            // Members in id order, one per id: a [String: Any] would merge canonically equivalent
            // token texts (TokenText).
            let specials = OrderedObject(entries: ids.sorted().map { id -> (String, Any) in
                (piece(id), ["id": piece(id), "ids": [id], "tokens": [piece(id)]] as [String: Any])
            })
            root["post_processor"] = ["type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials]
        }
        root["decoder"] = decoders.isEmpty ? NSNull() as Any : [
            "type": "Sequence",
            "decoders": decoders.map { d -> [String: Any] in
                switch d {
                case .byteLevel: return ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
                case .metaspace(let r, let p):
                    return ["type": "Metaspace", "replacement": String(r), "prepend_scheme": p.rawValue, "split": false]
                case .replace(let p, let c): return ["type": "Replace", "pattern": ["String": p], "content": c]
                case .byteFallback: return ["type": "ByteFallback"]
                case .fuse: return ["type": "Fuse"]
                case .strip(let c, let start, let stop): return ["type": "Strip", "content": String(c), "start": start, "stop": stop]
                }
            },
        ] as [String: Any]

        // Each text once, at its first id; texts compare byte-wise (TokenText), so canonically
        // equivalent tokens (gemma-4's two "▁và") are both written.
        var seen = Set<TokenText>()
        let vocab = OrderedObject(entries: model.pieces.enumerated().compactMap { id, p in
            seen.insert(TokenText(p)).inserted ? (p, id as Any) : nil
        })
        root["model"] = [
            "type": "BPE",
            "dropout": NSNull(),
            "unk_token": model.unknownID.map { model.pieces[$0] as Any } ?? NSNull(),
            "continuing_subword_prefix": NSNull(),
            "end_of_word_suffix": NSNull(),
            "fuse_unk": model.fuseUnknown,
            "byte_fallback": model.byteFallback,
            "ignore_merges": model.ignoreMerges,
            "vocab": vocab,
            "merges": mergeList().map { [$0.0, $0.1] },
        ] as [String: Any]
        // Own writer: sorted keys (reproducible), vocabulary in id order, UTF-8 text unescaped.
        var out = ""
        out.reserveCapacity(model.pieces.count * 40)
        JSONText.write(root, into: &out)
        return Data(out.utf8)
    }

    /// A tokenizer_config.json naming the special-token roles (tokenizer.json has no field for
    /// them): `bos_token`, `eos_token`, `pad_token`, `add_bos_token`, `add_eos_token`.
    public func tokenizerConfigJSON() -> Data {
        var config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast",
            "add_bos_token": addBOS,
            "add_eos_token": addEOS,
            "clean_up_tokenization_spaces": false,
        ]
        config["bos_token"] = bosTokenID.map { piece($0) as Any } ?? NSNull()
        config["eos_token"] = eosTokenID.map { piece($0) as Any } ?? NSNull()
        config["pad_token"] = padTokenID.map { piece($0) as Any } ?? NSNull()
        var out = ""
        JSONText.write(config, into: &out)
        return Data(out.utf8)
    }

    /// The merges as (left, right) token strings in rank order.
    func mergeList() -> [(String, String)] {
        switch model.merges {
        case .table(let table):
            return table.orderedMerges.map { (model.pieces[$0.left], model.pieces[$0.right]) }
        case .scores(let ranking):
            var found: [(score: Float, id: Int, left: Int, right: Int)] = []
            for (id, p) in model.pieces.enumerated() where ranking.mergeable[id] {
                let scalars = Array(p.unicodeScalars)
                guard scalars.count > 1 else { continue }
                for k in 1..<scalars.count {
                    if let li = model.pieceToID[TokenText(scalars: scalars[..<k])], let ri = model.pieceToID[TokenText(scalars: scalars[k...])] {
                        found.append((ranking.scores[id], id, li, ri))
                    }
                }
            }
            // Highest score first; the same order as the Swift score ranking on ties (by ids).
            found.sort { ($0.score, $1.id, $1.left, $1.right) > ($1.score, $0.id, $0.left, $0.right) }
            return found.map { (model.pieces[$0.left], model.pieces[$0.right]) }
        }
    }

    static func json(_ step: PreTokenizerStep) -> [String: Any] {
        switch step {
        case .byteLevel(let prefix, let regex):
            return ["type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": true, "use_regex": regex]
        case .split(.digits(let individual), _, _):
            return ["type": "Digits", "individual_digits": individual]
        case .split(let pattern, let behavior, let invert):
            let p: [String: String]
            switch pattern {
            case .known(let k): p = ["Regex": k.regex]
            case .literal(let s): p = ["String": s]
            case .regex(let r): p = ["Regex": r]
            case .digits: preconditionFailure("handled above")
            }
            return ["type": "Split", "pattern": p, "behavior": behavior.rawValue, "invert": invert]
        case .metaspace(let r, let prepend, let split):
            return ["type": "Metaspace", "replacement": String(r), "prepend_scheme": prepend.rawValue, "split": split]
        }
    }
}

/// A JSON object written with its members in the given order, keys as they are (a vocabulary in
/// id order; keys that a `[String: Any]` would merge).
struct OrderedObject { let entries: [(String, Any)] }

/// A small JSON serialiser for the writer (Foundation's is slow on Linux for 10⁵-entry maps).
enum JSONText {
    static func write(_ value: Any, into out: inout String) {
        switch value {
        case let s as String: string(s, into: &out)
        case let b as Bool: out += b ? "true" : "false"
        case let i as Int: out += String(i)
        case is NSNull: out += "null"
        case let v as OrderedObject:
            out += "{"
            for (k, (key, item)) in v.entries.enumerated() {
                if k > 0 { out += "," }
                string(key, into: &out)
                out += ":"
                write(item, into: &out)
            }
            out += "}"
        case let a as [Any]:
            out += "["
            for (k, item) in a.enumerated() {
                if k > 0 { out += "," }
                write(item, into: &out)
            }
            out += "]"
        case let d as [String: Any]:
            out += "{"
            for (k, key) in d.keys.sorted().enumerated() {
                if k > 0 { out += "," }
                string(key, into: &out)
                out += ":"
                write(d[key]!, into: &out)
            }
            out += "}"
        default:
            preconditionFailure("JSONText cannot write \(type(of: value))")
        }
    }

    static func string(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
