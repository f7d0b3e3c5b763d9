import Tensor
import Foundation
import Formats
import TestSupport
import Tokenizers
import XCTest

/// llama.cpp's tokenizer vectors (Scripts/get-vocab-vectors): vocabulary-only GGUF files with
/// input texts and the ids that the models' Hugging Face tokenizers produce for them (written by
/// llama.cpp's convert scripts, an independent oracle). Each vocabulary is built from its GGUF
/// metadata and must reproduce every id sequence.
final class VocabVectorTests: XCTestCase {
    /// Every byte-level BPE and SentencePiece vocabulary with vectors in llama.cpp's models/ folder
    /// (keep in step with Scripts/get-vocab-vectors). Not run: bert-bge (WordPiece) and
    /// nomic-bert-moe (Unigram / T5), which specdistill does not implement.
    static let vocabularies = ["gpt-2", "starcoder", "llama-spm", "qwen2", "llama-bpe", "mpt", "refact", "command-r",
                               "deepseek-coder", "deepseek-llm", "falcon", "phi-3", "qwen35", "gemma-4"]
    /// Vocabularies llama.cpp ships without vectors (its tests only load them).
    static let loadOnly = ["aquila", "baichuan", "gpt-neox"]

    /// The vocabularies `testWrittenTokenizerJSONMatchesVectors` rewrites: one per distinct
    /// pipeline (mpt is gpt-2's, refact and command-r starcoder's; that keeps the test short).
    static let rewritten = vocabularies.filter { !["mpt", "refact", "command-r"].contains($0) }

    static func directory() throws -> URL { try RealModels.vocabularyDirectory(names: vocabularies, loadOnly: loadOnly) }

    /// Each vocabulary is read once for all the tests of the class (the largest take ≈ 1 s).
    nonisolated(unsafe) static var loaded: [String: Tokenizer] = [:]
    static func tokenizer(_ name: String, in dir: URL) throws -> Tokenizer {
        if let t = loaded[name] { return t }
        let t = try Tokenizer(gguf: try GGUFFile(url: dir.appendingPathComponent("ggml-vocab-\(name).gguf")).metadata)
        loaded[name] = t
        return t
    }

    /// The input texts and expected ids of a vocabulary.
    static func vectors(_ name: String, in dir: URL) throws -> [(text: String, ids: [Int])] {
        let base = dir.appendingPathComponent("ggml-vocab-\(name).gguf").path
        // As llama.cpp's test-tokenizer-0 reads them: the separator ends each input except
        // possibly the last (gemma-4's file has none after it); one line of ids per input.
        var inputs = try String(contentsOf: URL(fileURLWithPath: base + ".inp"), encoding: .utf8)
            .components(separatedBy: "\n__ggml_vocab_test__\n")
        if inputs.last == "" { inputs.removeLast() }
        var outputs = try String(contentsOf: URL(fileURLWithPath: base + ".out"), encoding: .utf8)
            .components(separatedBy: "\n")
        if outputs.last == "" { outputs.removeLast() }
        XCTAssertEqual(inputs.count, outputs.count, "\(name): inputs vs expected lines")
        return zip(inputs, outputs).map { ($0, $1.split(separator: " ").map { Int($0)! }) }
    }

    /// Runs one vocabulary; returns a one-line "N/N exact" report.
    func run(_ name: String, in dir: URL) throws -> (ok: Bool, report: String) {
        let tokenizer = try Self.tokenizer(name, in: dir)
        let vectors = try Self.vectors(name, in: dir)
        var mismatches = 0
        var first = ""
        for (text, expected) in vectors {
            let got = tokenizer.encode(text, addSpecialTokens: false)
            if got != expected {
                if mismatches == 0 { first = "input \(text.debugDescription): expected \(expected), got \(got)" }
                mismatches += 1
            }
        }
        let ok = mismatches == 0
        return (ok, "\(ok ? "OK" : "NOT OK") \(name): \(vectors.count - mismatches)/\(vectors.count) exact" + (ok ? "" : "; first mismatch: \(first)"))
    }

    func testLlamaCppVocabularies() throws {
        let dir = try Self.directory()
        for name in Self.vocabularies {
            let (ok, report) = try run(name, in: dir)
            print(report)
            XCTAssertTrue(ok, report)
        }
    }

    /// The vocabularies without vectors load, and encode and decode a sample text losslessly.
    func testLoadOnlyVocabularies() throws {
        let dir = try Self.directory()
        let text = "Hello, world! 123 ½ Äpfel 日本語 🦙\n  x"
        for name in Self.loadOnly {
            let tokenizer = try Self.tokenizer(name, in: dir)
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            XCTAssertFalse(ids.isEmpty, name)
            let back = tokenizer.decode(ids)
            XCTAssertTrue(back == text || back == " " + text, "\(name): \(back.debugDescription)")
            print("OK \(name): loads (\(tokenizer.vocabularySize) tokens), \(ids.count) ids for the sample")
        }
    }

    /// tokenizerJSON() of each GGUF vocabulary, read back, reproduces every expected id sequence
    /// (for the SentencePiece vocabularies this checks the merges derived from scores). With
    /// SPECDISTILL_EXPORT_DIR set the files are written there for
    /// `Scripts/make-tokenizer-fixtures --check DIR` (Hugging Face `tokenizers` loads them).
    func testWrittenTokenizerJSONMatchesVectors() throws {
        let dir = try Self.directory()
        for name in Self.rewritten {
            let original = try Self.tokenizer(name, in: dir)
            let data = original.tokenizerJSON()
            if let export = ProcessInfo.processInfo.environment["SPECDISTILL_EXPORT_DIR"] {
                try FileManager.default.createDirectory(atPath: export, withIntermediateDirectories: true)
                try data.write(to: URL(fileURLWithPath: export).appendingPathComponent("gguf-\(name).json"))
                try original.tokenizerConfigJSON().write(to: URL(fileURLWithPath: export).appendingPathComponent("gguf-\(name).config"))
            }
            let config = try JSONSerialization.jsonObject(with: original.tokenizerConfigJSON()) as? [String: Any]
            let reloaded = try Tokenizer(tokenizerJSON: data, config: config, source: "written \(name)")
            XCTAssertEqual(reloaded.bosTokenID, original.bosTokenID, name)
            XCTAssertEqual(reloaded.eosTokenID, original.eosTokenID, name)
            XCTAssertEqual(reloaded.addBOS, original.addBOS, name)
            // Every token text back byte for byte (gemma-4: its U+FEFF tokens and its 434
            // canonically equivalent pairs, which the vectors do not exercise).
            XCTAssertEqual(reloaded.vocabularySize, original.vocabularySize, name)
            let differing = (0..<min(reloaded.vocabularySize, original.vocabularySize)).filter {
                !reloaded.piece($0).utf8.elementsEqual(original.piece($0).utf8)
            }
            XCTAssertEqual(differing.count, 0, "\(name) rewritten: first differing id \(differing.first ?? -1): \(differing.first.map { original.piece($0).debugDescription } ?? "") became \(differing.first.map { reloaded.piece($0).debugDescription } ?? "")")
            for (text, expected) in try Self.vectors(name, in: dir) {
                XCTAssertEqual(reloaded.encode(text, addSpecialTokens: false), expected, "\(name) rewritten: \(text.debugDescription)")
            }
        }
    }

    /// The precomputed score-merge table equals its definition (concatenation is a token, rank =
    /// −score) on every two-way split of random tokens and on random token pairs.
    func testScoreTableMatchesDefinition() throws {
        let dir = try Self.directory()
        let tokenizer = try Self.tokenizer("llama-spm", in: dir)
        guard case .scores(let ranking) = tokenizer.model.merges else { return XCTFail("llama-spm should rank merges by score") }
        var g = RandomGenerator(seed: 3)
        let V = tokenizer.vocabularySize
        var checked = 0
        for _ in 0..<20_000 {
            let t = Array(tokenizer.piece(Int(g.next() % UInt64(V))).unicodeScalars)
            let pairs: [(Int, Int)]
            if t.count > 1 {
                let k = 1 + Int(g.next() % UInt64(t.count - 1))
                guard let l = tokenizer.id(of: String(String.UnicodeScalarView(t[..<k]))),
                      let r = tokenizer.id(of: String(String.UnicodeScalarView(t[k...]))) else { continue }
                pairs = [(l, r), (Int(g.next() % UInt64(V)), Int(g.next() % UInt64(V)))]
            } else { continue }
            for (l, r) in pairs {
                let fast = ranking.merge(l, r), slow = ranking.mergeByConcatenation(l, r)
                XCTAssertEqual(fast?.merged, slow?.merged, "\(tokenizer.piece(l)) + \(tokenizer.piece(r))")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 10_000)
        // Rank order follows score order: compare ranks of random pairs of found merges.
        var found: [(rank: Double, negScore: Double)] = []
        for id in 0..<V {
            let t = Array(tokenizer.piece(id).unicodeScalars)
            guard t.count == 2, let l = tokenizer.id(of: String(t[0])), let r = tokenizer.id(of: String(t[1])),
                  let f = ranking.merge(l, r), let d = ranking.mergeByConcatenation(l, r) else { continue }
            found.append((f.rank, d.rank))
        }
        XCTAssertGreaterThan(found.count, 100)
        for _ in 0..<5000 {
            let a = found[Int(g.next() % UInt64(found.count))], b = found[Int(g.next() % UInt64(found.count))]
            XCTAssertEqual(a.rank < b.rank, a.negScore < b.negScore)
        }
    }

    func testUnknownPreTokenizerNameThrows() throws {
        let metadata: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.pre": .string("no-such-pre"),
            "tokenizer.ggml.tokens": .array([.string("a")]), "tokenizer.ggml.merges": .array([]),
        ]
        XCTAssertThrowsError(try Tokenizer(gguf: metadata)) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("no-such-pre") && m.contains("llama-bpe") && m.contains("qwen2"), m)
            XCTAssertTrue(m.contains("tokenizer.json") && m.contains("not supported"), "the message names the fix: \(m)")
        }
        XCTAssertThrowsError(try Tokenizer(gguf: ["tokenizer.ggml.model": .string("bert"), "tokenizer.ggml.tokens": .array([.string("a")])])) { error in
            XCTAssertTrue("\(error)".contains("bert") && "\(error)".contains("gpt2"), "\(error)")
        }
    }

    /// Round trip: decoding the ids of each input gives the input back (byte-level vocabularies
    /// are lossless; the SentencePiece ones drop the added leading space on decode).
    func testDecodeRoundTrip() throws {
        let dir = try Self.directory()
        for name in Self.vocabularies {
            let tokenizer = try Self.tokenizer(name, in: dir)
            for (text, _) in try Self.vectors(name, in: dir) {
                // Bytes, not String ==, which would accept a canonically equivalent text.
                XCTAssertEqual(Array(tokenizer.decode(tokenizer.encode(text, addSpecialTokens: false)).utf8), Array(text.utf8), "\(name) round trip \(text.debugDescription)")
            }
        }
    }

    /// gemma-4's vocabulary has 434 pairs of tokens whose texts are canonically equivalent (equal
    /// as Swift `String`s, "▁và" written two ways): all 262,144 texts stay distinct
    /// (`TokenText`), each text is looked up to its own id, and each text of a pair encodes to its
    /// own id, which decodes to its own bytes.
    func testGemma4CanonicallyEquivalentTokensStayDistinct() throws {
        let tokenizer = try Self.tokenizer("gemma-4", in: try Self.directory())
        let V = tokenizer.vocabularySize
        let pieces = (0..<V).map { tokenizer.piece($0) }
        XCTAssertEqual(Set(pieces.map(TokenText.init)).count, V, "token texts compared byte-wise are all distinct")
        let misplaced = (0..<V).filter { tokenizer.id(of: pieces[$0]) != $0 }
        XCTAssertEqual(misplaced.count, 0, "first id whose text looks up another id: \(misplaced.first ?? -1)")

        // A String-keyed dictionary finds the pairs: it is exactly the collapse being tested.
        var first: [String: Int] = [:]
        var pairs: [(Int, Int)] = []
        for (id, p) in pieces.enumerated() {
            if let other = first[p] { pairs.append((other, id)) } else { first[p] = id }
        }
        print("gemma-4: \(V) tokens, \(pairs.count) canonically equivalent pairs")
        XCTAssertEqual(pairs.count, 434, "llama.cpp's ggml-vocab-gemma-4.gguf has 434 such pairs")
        for (a, b) in pairs {
            for id in [a, b] {
                let ids = tokenizer.encode(pieces[id], addSpecialTokens: false)
                XCTAssertEqual(ids, [id], "\(pieces[id].debugDescription) (pair \(a), \(b))")
                // The decoder turns ▁ into a space.
                let expected = String(String.UnicodeScalarView(pieces[id].unicodeScalars.map { $0 == "▁" ? " " : $0 }))
                XCTAssertEqual(Array(tokenizer.decode(ids).utf8), Array(expected.utf8), "round trip of token \(id)")
            }
        }
    }
}
