import Foundation
import Formats
import Tensor
import TestSupport
import Transformer
import XCTest

/// Golden tests against Hugging Face transformers (fixtures written by Scripts/make-fixtures;
/// format in Fixtures/README.md). Tolerances: the fixture README measures float32-vs-float64
/// rounding at ≤ 2.7e-6 (logits) and ≤ 1.5e-6 (gradients); 1e-4 absolute leaves room for a
/// different summation order (BLAS) while failing the known wrong-convention effects (≥ 7e-4).
enum Golden {
    static let logitsAtol = 1e-4, gradAtol = 1e-4, lossAtol = 1e-5, stepsAtol = 1e-4
    static let names = ["gpt2", "llama", "llama_tied", "qwen2", "gpt_neox", "gpt_neox_seq"]
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures") }

    struct Fixture {
        let name: String
        let model: TransformerModel
        let golden: SafetensorsFile
        let B = 2, T = 7
        var tokens: [Int32] = []
        var targets: [Int32] = []
    }

    static func load(_ name: String) throws -> Fixture {
        let dir = root.appendingPathComponent(name)
        let golden = try SafetensorsFile(url: dir.appendingPathComponent("golden.safetensors"))
        guard golden.metadata["fixture_version"] == "1" else {
            throw ModelError.file("\(dir.path): fixture format changed: regenerate with Scripts/make-fixtures (and update the reader)")
        }
        var f = Fixture(name: name, model: try TransformerModel.load(directory: dir), golden: golden)
        let ids = try golden.floats("input_ids"), labels = try golden.floats("labels")
        f.tokens = ids.map { Int32($0) }
        // targets[b, t] = labels[b, t+1]; the last position predicts nothing.
        f.targets = (0..<(f.B * f.T)).map { r in
            let t = r % f.T
            return t == f.T - 1 ? -1 : Int32(labels[r + 1] < 0 ? -1 : labels[r + 1])
        }
        return f
    }

    /// Mean next-token cross-entropy and its gradient, from the Tensor kernels.
    static func loss(_ logits: Tensor, _ targets: [Int32], V: Int, dLogits: Tensor?) -> Double {
        let rows = targets.count
        var losses = [Float](repeating: 0, count: rows)
        let (sum, count) = targets.withUnsafeBufferPointer { t in
            losses.withUnsafeMutableBufferPointer {
                CrossEntropy.forward(losses: $0.baseAddress!, logits: logits.pointer, targets: t.baseAddress!, rows: rows, V: V)
            }
        }
        if let dLogits {
            targets.withUnsafeBufferPointer {
                CrossEntropy.backward(dLogits: dLogits.pointer, logits: logits.pointer, targets: $0.baseAddress!, rows: rows,
                                      V: V, scale: 1 / Float(count))
            }
        }
        return sum / Double(count)
    }
}

final class GoldenTests: XCTestCase {
    func testLogitsLossAndGradientsMatchTransformers() throws {
        for name in Golden.names {
            let f = try Golden.load(name)
            let m = f.model, V = m.config.vocabSize
            let ws = TrainingWorkspace(config: m.config, B: f.B, T: f.T)
            m.forward(tokens: f.tokens, workspace: ws)
            let expected = try Tensor(shape: [f.B, f.T, V], values: f.golden.floats("logits"))
            let cmp = compare(ws.logits.buffer, expected.buffer, rtol: 0, atol: Golden.logitsAtol)
            print("\(name) logits: \(cmp.passed ? "OK" : "NOT OK") max abs err \(cmp.maxAbs)")
            XCTAssertTrue(cmp.passed, "\(name) logits \(cmp)")
            let dLogits = Tensor(zeros: [f.B, f.T, V])
            let loss = Golden.loss(ws.logits, f.targets, V: V, dLogits: dLogits)
            assertClose(loss, Double(try f.golden.floats("loss")[0]), rtol: 0, atol: Golden.lossAtol, "\(name) loss")
            m.gradients.zero()
            m.backward(dLogits: dLogits.pointer, workspace: ws)
            var worst = 0.0
            for t in m.hfTensors(of: m.gradients) {
                let ref = try f.golden.floats("grad." + t.name)
                let c = compare(t.values, ref, rtol: 0, atol: Golden.gradAtol)
                worst = max(worst, c.maxAbs)
                XCTAssertTrue(c.passed, "\(name) grad.\(t.name) \(c)")
            }
            print("\(name) gradients: max abs err \(worst)")
        }
    }

    /// Ten AdamW steps reproduce torch.optim.AdamW's loss trajectory (decay on ndim ≥ 2 only).
    func testTenAdamWStepsMatchTorch() throws {
        for name in Golden.names {
            let f = try Golden.load(name)
            let m = f.model, V = m.config.vocabSize
            let ws = TrainingWorkspace(config: m.config, B: f.B, T: f.T)
            let adam = AdamW(parameters: m.parameters, settings: AdamWSettings(learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1))
            let decayed = Set((f.golden.metadata["decayed"] ?? "").split(separator: ",").map(String.init))
            let ours = Set(m.hfTensors().filter { t in m.parameters.infos.contains { $0.decay && HFNames.sources(of: $0, config: m.config).contains { $0.name == t.name } } }.map(\.name))
            XCTAssertEqual(ours, decayed, "\(name): decayed parameter sets differ")
            let expected = try f.golden.floats("losses_10_steps")
            var losses: [Double] = []
            let dLogits = Tensor(zeros: [f.B, f.T, V])
            for _ in 0..<11 {
                m.forward(tokens: f.tokens, workspace: ws)
                dLogits.fill(0)
                losses.append(Golden.loss(ws.logits, f.targets, V: V, dLogits: dLogits))
                m.gradients.zero()
                m.backward(dLogits: dLogits.pointer, workspace: ws)
                adam.step(parameters: m.parameters, gradients: m.gradients, lr: 1e-2)
            }
            assertClose(Array(losses.dropFirst()), expected, rtol: 0, atol: Golden.stepsAtol, "\(name) AdamW losses")
        }
    }

    /// KV-cache inference: one token at a time reproduces HF's cached logits; appending all T at
    /// once, and in two chunks, gives bitwise the same logits as single appends (batch invariance).
    func testCachedInferenceMatchesAndIsBatchInvariant() throws {
        for name in Golden.names {
            let f = try Golden.load(name)
            let m = f.model, V = m.config.vocabSize, T = f.T
            let row0 = f.tokens.prefix(T).map(Int.init)
            let s = InferenceSession(model: m, maxT: 32)
            var single: [Float] = []
            for t in row0 { single += try s.append([t]).array }
            let expected = try f.golden.floats("cached_logits")
            let c = compare(single, expected, rtol: 0, atol: Golden.logitsAtol)
            XCTAssertTrue(c.passed, "\(name) cached logits \(c)")
            // Training forward (sgemm, whole-sequence attention) vs inference (row kernel, cache):
            // the same float32 operations summed in different orders, so they agree to rounding —
            // a few ulps of values of order 1–4, well under 2e-5 — not bit for bit.
            let ws = TrainingWorkspace(config: m.config, B: f.B, T: f.T)
            m.forward(tokens: f.tokens, workspace: ws)
            let training = Array(ws.logits.array.prefix(T * V))
            let ct = compare(single, training, rtol: 0, atol: 2e-5)
            XCTAssertTrue(ct.passed, "\(name): inference vs training forward \(ct)")
            s.reset()
            let all = try s.append(row0).array
            XCTAssertEqual(all, single, "\(name): appending \(T) tokens at once differs from single appends")
            s.reset()
            let first = try s.append(Array(row0.prefix(3))).array
            let rest = try s.append(Array(row0.dropFirst(3))).array
            XCTAssertEqual(first + rest, single, "\(name): chunked appends differ")
            // Rollback: truncate to 3 and re-append gives the same as never having appended.
            s.truncate(to: 3)
            XCTAssertEqual(s.length, 3)
            XCTAssertEqual(try s.append(Array(row0.dropFirst(3))).array, rest, "\(name): truncate-then-append")
        }
    }
}
