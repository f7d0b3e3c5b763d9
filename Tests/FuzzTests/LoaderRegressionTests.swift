import Distill
import Formats
import Foundation
import FuzzKit
import Tensor
import Tokenizers
import Transformer
import XCTest

/// One test per crash class of issue 16: the seeds of the fuzzer with one targeted corruption,
/// each of which used to crash, hang or allocate without bound, and now fails with a message
/// naming the problem.
final class LoaderRegressionTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("loader-regression-\(UUID().uuidString)")
    }
    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    /// A copy of the first seed of `format` whose name contains `containing` (directory, target file).
    func seed(_ format: FuzzFormat, _ target: String? = nil) throws -> (dir: URL, file: URL) {
        let seeds = try FuzzSeedIndex.write(root.appendingPathComponent("seeds-\(format)"), format)
        let s = seeds.first { target == nil || $0.target == target }!
        let dir = root.appendingPathComponent("case-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: s.directory, to: dir)
        return (dir, dir.appendingPathComponent(s.target))
    }

    func assertRefused(_ format: FuzzFormat, _ dir: URL, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) {
        let report = FuzzTarget.report(format, input: dir)
        XCTAssertNotEqual(report, "accepted", file: file, line: line)
        XCTAssertLessThanOrEqual(report.count, FuzzCampaign.maxMessageLength, file: file, line: line)
        for w in words { XCTAssertTrue(report.contains(w), "'\(report)' does not mention \(w)", file: file, line: line) }
    }

    func json(_ url: URL) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any] }
    func write(_ object: Any, _ url: URL) throws { try JSONSerialization.data(withJSONObject: object).write(to: url) }

    /// Re-writes a GGUF with metadata changed by `edit` (tensors copied).
    func rewriteGGUF(_ url: URL, _ edit: (inout [String], inout [String: GGUFValue]) -> Void) throws {
        let f = try GGUFFile(url: url)
        var keys = f.metadataKeys, values = f.metadata
        edit(&keys, &values)
        var w = GGUFWriter(version: f.version, alignment: f.alignment)
        for k in keys { try w.add(key: k, values[k]!) }
        for t in f.tensorInfos {
            try w.addRaw(tensor: t.name, shape: t.shape, type: t.type, bytes: try f.withRawBytes(t.name) { [UInt8]($0) })
        }
        let data = try w.encoded()
        try data.write(to: url)
    }

    func testGGUFBlockCount1000FailsAtTheFirstMissingLayerNotInAnAllocation() throws {
        let (dir, file) = try seed(.gguf)
        try rewriteGGUF(file) { _, v in v["llama.block_count"] = .uint32(1000) }
        assertRefused(.gguf, dir, mentioning: ["blk.2.", "missing"])
    }

    func testGGUFRoPEScalingIsRefused() throws {
        let (dir, file) = try seed(.gguf)
        try rewriteGGUF(file) { k, v in k.append("llama.rope.scaling.type"); v["llama.rope.scaling.type"] = .string("linear") }
        assertRefused(.gguf, dir, mentioning: ["rope.scaling.type", "not supported"])
    }

    func testGGUFNaNWeightIsRefusedNotSampled() throws {
        let (dir, file) = try seed(.gguf)  // the F32 seed
        var bytes = try Data(contentsOf: file)
        let f = try GGUFFile(url: file), t = try f.tensorInfo("output_norm.weight")
        let at = f.dataOffset + t.offset
        bytes.replaceSubrange(at..<(at + 4), with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try bytes.write(to: file)
        assertRefused(.gguf, dir, mentioning: ["final_norm.weight", "nan", "corrupt"])
    }

    func testGGUFHugeTensorNameGivesAShortMessage() throws {
        var w = GGUFWriter()
        try w.add(key: "general.architecture", .string("llama"))
        try w.add(tensor: String(repeating: "x", count: 100_000), shape: [4], values: [1, 2, 3, 4])
        let url = root.appendingPathComponent("long.gguf")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try w.write(to: url)
        XCTAssertThrowsError(try GGUFFile(url: url)) { error in
            XCTAssertTrue("\(error)".contains("256"), "\(error)")
            XCTAssertLessThan("\(error)".count, 1000)
        }
    }

    func testSafetensorsInfiniteWeightIsRefused() throws {
        let (dir, file) = try seed(.safetensors)
        var bytes = try Data(contentsOf: file)
        bytes.replaceSubrange((bytes.count - 4)..<bytes.count, with: withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { Data($0) })
        try bytes.write(to: file)
        assertRefused(.safetensors, dir, mentioning: ["inf", "corrupt"])
    }

    func testTokenizerVocabularyIdOf2To62IsRefused() throws {
        let (dir, file) = try seed(.tokenizer)
        var tok = try json(file), model = tok["model"] as! [String: Any], vocab = model["vocab"] as! [String: Int]
        vocab["zzz"] = 1 << 62
        model["vocab"] = vocab; tok["model"] = model
        try write(tok, file)
        assertRefused(.tokenizer, dir, mentioning: ["zzz", "\(1 << 62)", "corrupt"])
    }

    func testTokenizerNegativeAddedTokenIdIsRefused() throws {
        let (dir, file) = try seed(.tokenizer)
        var tok = try json(file)
        tok["added_tokens"] = [["id": -1, "content": "<bad>", "special": true]]
        try write(tok, file)
        assertRefused(.tokenizer, dir, mentioning: ["<bad>", "-1"])
    }

    func testNegativeTrainerStepIsRefused() throws {
        let (dir, file) = try seed(.run, "out/checkpoint/trainer_state.json")
        var state = try json(file)
        state["step"] = -5
        try write(state, file)
        assertRefused(.run, dir, mentioning: ["step -5", "trainer_state.json"])
    }

    func testNegativeAdamWMomentIsRefused() throws {
        let (dir, file) = try seed(.run, "out/checkpoint/optimizer.safetensors")
        let f = try SafetensorsFile(url: file)
        let info = try f.tensorInfo("v")
        var bytes = try Data(contentsOf: file)
        let header = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let at = 8 + header + info.begin
        bytes.replaceSubrange(at..<(at + 4), with: withUnsafeBytes(of: Float(-1).bitPattern.littleEndian) { Data($0) })
        try bytes.write(to: file)
        assertRefused(.run, dir, mentioning: ["moment v", "-1.0"])
    }

    func testJSONLWithCRLFLineEndingsAndAByteOrderMarkLoads() throws {
        let (dir, file) = try seed(.jsonl, "data.jsonl")
        let text = try String(contentsOf: file, encoding: .utf8)
        try Data(("\u{FEFF}" + text.replacingOccurrences(of: "\n", with: "\r\n")).utf8).write(to: file)
        XCTAssertEqual(FuzzTarget.report(.jsonl, input: dir), "accepted")
        let data = try PromptDataset.load(file, template: .plain, requireResponses: true)
        XCTAssertEqual(data.examples.count, 5)
        XCTAssertFalse(data.examples.contains { $0.response?.contains("\r") == true })
        // A bad line is still named by its number with CRLF endings.
        try Data("{\"prompt\": \"a\", \"response\": \"b\"}\r\nnot json\r\n".utf8).write(to: file)
        XCTAssertThrowsError(try PromptDataset.load(file, template: .plain, requireResponses: true)) { error in
            XCTAssertTrue("\(error)".contains("data.jsonl:2:"), "\(error)")
        }
    }

    /// GSM8K's train split holds U+2028 unescaped inside strings (legal JSON); a Unicode-aware
    /// line split broke such a line in two ("line 4052: not a JSON object").
    func testJSONLWithUnicodeLineSeparatorsInsideStringsLoads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jsonl-u2028-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("data.jsonl")
        let line = "{\"prompt\": \"a\u{2028}b\u{2029}c\u{85}d\", \"response\": \"e\"}"
        try Data((line + "\n" + line + "\n").utf8).write(to: file)
        let data = try PromptDataset.load(file, template: .plain, requireResponses: true)
        XCTAssertEqual(data.examples.count, 2)
        XCTAssertEqual(data.examples[0].prompt, "a\u{2028}b\u{2029}c\u{85}d")
    }

    func testTeacherCacheShardWithDecreasingOffsetsIsRefused() throws {
        let (dir, file) = try seed(.cache, "cache/manifest.json")
        let shard = try FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path).first { $0.hasPrefix("shard") }!
        let shardURL = file.deletingLastPathComponent().appendingPathComponent(shard)
        var bytes = try Data(contentsOf: shardURL)
        bytes.replaceSubrange(40..<48, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Data($0) })  // offsets[1]
        try bytes.write(to: shardURL)
        assertRefused(.cache, dir, mentioning: ["offsets"])
    }

    func testTeacherCacheManifestWithZeroExamplesPerShardIsRefused() throws {
        let (dir, file) = try seed(.cache, "cache/manifest.json")
        var m = try json(file)
        m["examplesPerShard"] = 0
        try write(m, file)
        assertRefused(.cache, dir, mentioning: ["examples per shard"])
    }

    func testSamplingNonFiniteLogitsThrowsInsteadOfTrapping() throws {
        let sampler = Sampler(settings: SamplingSettings(temperature: 1), vocabularySize: 4)
        var rng = RandomGenerator(seed: 1)
        var probs = [Float](repeating: 0, count: 4)
        for bad: Float in [.nan, .infinity, -.infinity] {
            let logits: [Float] = [0, bad, 1, 2]
            XCTAssertThrowsError(try probs.withUnsafeMutableBufferPointer { p in
                try logits.withUnsafeBufferPointer { try sampler.checkedSample($0.baseAddress!, scratch: p.baseAddress!, rng: &rng) }
            }) { XCTAssertTrue("\($0)".contains("logit 1 of 4"), "\($0)") }
        }
        let weights: [Float] = [0, 0, 0]
        XCTAssertThrowsError(try weights.withUnsafeBufferPointer { try rng.checkedCategorical($0.baseAddress!, count: 3) })
        let good: [Float] = [0, 1, 0]
        XCTAssertEqual(try good.withUnsafeBufferPointer { try rng.checkedCategorical($0.baseAddress!, count: 3) }, 1)
    }

    /// A model may have more output rows than its tokenizer has tokens (padding); decoding such
    /// an id used to trap in `Tokenizer.piece`. Like HF `tokenizers`, it now contributes nothing.
    func testDecodingIdsOutsideTheVocabularyDoesNotTrap() throws {
        let tok = try BPETrainer(vocabularySize: 280).train(["the cat sat on the mat"])
        let ids = tok.encode("the cat", addSpecialTokens: false)
        XCTAssertEqual(tok.decode(ids + [tok.vocabularySize, tok.vocabularySize + 100, -1]), tok.decode(ids))
    }

    func testErrorMessagesAreBounded() {
        let long = String(repeating: "a", count: 100_000)
        XCTAssertLessThan(ErrorText.clip(long).count, ErrorText.maxMessage + 100)
        XCTAssertLessThan(TokenizerError(long).description.count, ErrorText.maxMessage + 100)
        XCTAssertLessThan(ModelError.file(long).description.count, ErrorText.maxMessage + 100)
        XCTAssertLessThan(DistillError.data(long).description.count, ErrorText.maxMessage + 100)
        XCTAssertEqual(ErrorText.name("a\u{0}b"), "a\\u{0}b")
    }
}
