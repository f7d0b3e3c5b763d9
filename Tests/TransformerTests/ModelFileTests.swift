import Foundation
import Formats
import Tensor
import TestSupport
import Transformer
import XCTest

final class ModelFileTests: XCTestCase {
    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("modelfiles-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// Saving writes HF names and layouts that load back into identical parameters, for every
    /// architecture (the HF side of the round trip is Scripts/make-fixtures --check).
    func testSaveLoadRoundTripAllArchitectures() throws {
        for name in Golden.names {
            let m = try TransformerModel.load(directory: Golden.root.appendingPathComponent(name))
            let dir = try tempDir()
            try m.save(directory: dir)
            let back = try TransformerModel.load(directory: dir)
            XCTAssertEqual(back.config, m.config, name)
            XCTAssertEqual(back.parameters.flat.array, m.parameters.flat.array, name)
            // Same tensor names and shapes as the file HF wrote.
            let ours = try SafetensorsFile(url: dir.appendingPathComponent("model.safetensors"))
            let theirs = try SafetensorsFile(url: Golden.root.appendingPathComponent(name).appendingPathComponent("model.safetensors"))
            XCTAssertEqual(ours.tensorNames, theirs.tensorNames, name)
            for n in theirs.tensorNames {
                XCTAssertEqual(try ours.info(n).shape, try theirs.info(n).shape, "\(name) \(n)")
                XCTAssertEqual(try ours.floats(n), try theirs.floats(n), "\(name) \(n)")
            }
        }
    }

    func copyFixture(_ name: String) throws -> URL {
        let dir = try tempDir()
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: Golden.root.appendingPathComponent(name).appendingPathComponent(f),
                                             to: dir.appendingPathComponent(f))
        }
        return dir
    }

    func assertLoadFails(_ dir: URL, mentions words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TransformerModel.load(directory: dir), file: file, line: line) { error in
            let s = "\(error)"
            for w in words { XCTAssertTrue(s.contains(w), "error should mention '\(w)': \(s)", file: file, line: line) }
        }
    }

    func testMissingFilesAndTensors() throws {
        let dir = try copyFixture("llama")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        assertLoadFails(dir, mentions: ["model.safetensors"])

        let dir2 = try copyFixture("llama")
        try FileManager.default.removeItem(at: dir2.appendingPathComponent("config.json"))
        assertLoadFails(dir2, mentions: ["config.json"])

        // A file without one tensor.
        let dir3 = try copyFixture("llama")
        let src = try SafetensorsFile(url: dir3.appendingPathComponent("model.safetensors"))
        var w = SafetensorsWriter()
        for n in src.tensorNames where n != "model.layers.1.mlp.up_proj.weight" {
            try w.add(n, shape: try src.info(n).shape, values: try src.floats(n))
        }
        try w.write(to: dir3.appendingPathComponent("model.safetensors"))
        assertLoadFails(dir3, mentions: ["model.layers.1.mlp.up_proj.weight", "missing"])
    }

    func testShapeMismatchAgainstConfig() throws {
        let dir = try copyFixture("gpt2")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        json["n_inner"] = 100
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        assertLoadFails(dir, mentions: ["shape", "c_fc"])
    }

    func testTruncatedAndGarbledWeights() throws {
        let dir = try copyFixture("qwen2")
        let url = dir.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count / 2).write(to: url)
        assertLoadFails(dir, mentions: ["model.safetensors"])
        try Data("garbage!".utf8).write(to: url)
        assertLoadFails(dir, mentions: ["model.safetensors"])
    }

    func testConfigMissingRequiredField() throws {
        let dir = try copyFixture("gpt_neox")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        json.removeValue(forKey: "num_hidden_layers")
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        assertLoadFails(dir, mentions: ["num_hidden_layers", "config.json"])
    }

    func testModelBundleErrors() {
        XCTAssertThrowsError(try ModelBundle.load("/nonexistent/model")) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
    }
}
