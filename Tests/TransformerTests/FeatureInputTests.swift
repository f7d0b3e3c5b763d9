import Foundation
import Tensor
import TestSupport
import Transformer
import XCTest

/// The target-feature input of a draft (``FeatureInput``): kernels against their plain loops, the
/// weight gradient through the whole model by finite differences, zero initialisation, the
/// inference session against the training forward, and the files that carry it.
final class FeatureInputTests: XCTestCase {
    /// A llama-shaped model small enough for finite differences over every element of W.
    func micro(D: Int = 3, Cf: Int = 12, seed: UInt64 = 1) throws -> TransformerModel {
        var c = ModelConfig(architecture: .llama, vocabSize: 40, hiddenSize: 16, numLayers: 1, numHeads: 2, numKVHeads: 1,
                            headSize: 8, intermediateSize: 24, maxPositions: 32)
        c.featureStaleness = D; c.featureWidth = Cf
        let m = try TransformerModel(config: c)
        m.initialize(seed: seed)
        var rng = RandomGenerator(seed: seed + 100)
        rng.fillNormal(m.parameters[FeatureInput.parameterName], std: 0.3)
        return m
    }

    func randomRows(_ rows: Int, D: Int, Cf: Int, seed: UInt64) -> (Tensor, [Int32]) {
        var rng = RandomGenerator(seed: seed)
        let f = Tensor(zeros: [rows, Cf])
        rng.fillNormal(f)
        // Every staleness, and rows without a feature.
        let d = (0..<rows).map { Int32($0 % (D + 1)) }
        return (f, d)
    }

    func testForwardKernelsMatchThePlainLoop() {
        let rows = 13, C = 24, Cf = 20, D = 3
        var rng = RandomGenerator(seed: 4)
        let W = Tensor(zeros: [D, C, Cf]), x0 = Tensor(zeros: [rows, C])
        rng.fillNormal(W); rng.fillNormal(x0)
        let (f, d) = randomRows(rows, D: D, Cf: Cf, seed: 5)
        let reference = x0.copy(), rowWise = x0.copy()
        d.withUnsafeBufferPointer { dp in
            FeatureInput.addReference(into: reference.pointer, features: f.pointer, staleness: dp.baseAddress!, rows: rows,
                                      W: W.pointer, C: C, Cf: Cf, D: D)
            FeatureInput.add(into: rowWise.pointer, features: f.pointer, staleness: dp.baseAddress!, rows: rows,
                             W: W.pointer, C: C, Cf: Cf, D: D)
        }
        assertClose(rowWise, reference, rtol: 1e-5, atol: 1e-5)
        // Rows without a feature are untouched, bitwise.
        for r in 0..<rows where d[r] == 0 {
            for i in 0..<C { XCTAssertEqual(rowWise.pointer[r * C + i], x0.pointer[r * C + i]) }
        }
        XCTAssertGreaterThan(maxAbs(reference, minus: x0), 0.1, "the reference changed nothing")
    }

    /// dL/dW of `L = Σ R ⊙ logits` through the whole model (the grouped gemms of training) against
    /// central differences on every element of W; and the embedding gradient is unchanged by it.
    func testWeightGradientByFiniteDifferences() throws {
        let m = try micro()
        let c = m.config, B = 2, T = 6, rows = B * T
        let ws = TrainingWorkspace(config: c, B: B, T: T)
        let (f, d) = randomRows(rows, D: c.featureStaleness, Cf: c.featureWidth, seed: 7)
        ws.features!.input.pointer.update(from: f.pointer, count: f.count)
        ws.features!.staleness = d
        var rng = RandomGenerator(seed: 8)
        let tokens = (0..<rows).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) }
        let R = Projection(shape: [B, T, c.vocabSize], rng: &rng)
        m.forward(tokens: tokens, workspace: ws)
        m.gradients.zero()
        m.backward(dLogits: R.weights.pointer, workspace: ws)
        let W = m.parameters[FeatureInput.parameterName], dW = m.gradients[FeatureInput.parameterName]
        XCTAssertGreaterThan(maxAbs(dW, minus: 0), 1e-3, "no gradient reached W")
        assertGradients(wrt: [W], analytic: [dW]) {
            m.forward(tokens: tokens, workspace: ws)
            return R(ws.logits)
        }
    }

    /// The grouped forms of training (one gemm per staleness) equal the plain loops.
    func testGroupedFormsMatchThePlainLoops() {
        let rows = 17, C = 12, Cf = 10, D = 4
        var rng = RandomGenerator(seed: 12)
        let W = Tensor(zeros: [D, C, Cf]), x0 = Tensor(zeros: [rows, C]), dX = Tensor(zeros: [rows, C])
        rng.fillNormal(W); rng.fillNormal(x0); rng.fillNormal(dX)
        let (f, d) = randomRows(rows, D: D, Cf: Cf, seed: 13)
        let scratch = FeatureScratch(rows: rows, C: C, Cf: Cf)
        let xFast = x0.copy(), xReference = x0.copy()
        let dWFast = Tensor(zeros: [D, C, Cf]), dWReference = Tensor(zeros: [D, C, Cf])
        dWFast.fill(0.5); dWReference.fill(0.5)   // both accumulate
        d.withUnsafeBufferPointer { dp in
            let s = dp.baseAddress!
            FeatureInput.addGrouped(into: xFast.pointer, features: f.pointer, staleness: s, rows: rows, W: W.pointer, C: C, Cf: Cf, D: D,
                                    scratch: scratch)
            FeatureInput.addReference(into: xReference.pointer, features: f.pointer, staleness: s, rows: rows, W: W.pointer, C: C, Cf: Cf, D: D)
            FeatureInput.gradientGrouped(dW: dWFast.pointer, dX: dX.pointer, features: f.pointer, staleness: s, rows: rows, C: C, Cf: Cf,
                                         D: D, scratch: scratch)
            FeatureInput.gradientReference(dW: dWReference.pointer, dX: dX.pointer, features: f.pointer, staleness: s, rows: rows,
                                           C: C, Cf: Cf, D: D)
        }
        assertClose(xFast, xReference, rtol: 1e-5, atol: 1e-5)
        assertClose(dWFast, dWReference, rtol: 1e-5, atol: 1e-5)
        XCTAssertGreaterThan(maxAbs(dWReference, minus: 0.5), 0.1, "the reference gradient is empty")
    }

    /// A model given a feature input by ``TransformerModel/addingFeatureInput(staleness:width:)``
    /// computes bitwise what it computed before, whatever features it reads, until W is trained.
    func testZeroInitialisedInputChangesNothing() throws {
        var c = ModelConfig.preset("tiny", vocabSize: 50, context: 32)!
        c.numLayers = 1
        let plain = try TransformerModel(config: c)
        plain.initialize(seed: 3)
        let featured = try plain.addingFeatureInput(staleness: 4, width: 20)
        XCTAssertEqual(featured.config.featureStaleness, 4)
        let tokens = [3, 9, 27, 4, 11]
        let a = try InferenceSession(model: plain).append(tokens).copy()
        let (f, _) = randomRows(tokens.count, D: 4, Cf: 20, seed: 2)
        let b = try InferenceSession(model: featured).append(tokens, features: f.pointer, staleness: [1, 2, 3, 4, 1])
        XCTAssertEqual(maxAbs(a, minus: b), 0, "zero W must leave the logits bitwise unchanged")
    }

    /// The session's per-row input equals the training forward's grouped input: same logits for the
    /// same tokens, features and staleness (float tolerance: gemm against the row kernel).
    func testSessionMatchesTheTrainingForward() throws {
        let m = try micro(D: 3, Cf: 12)
        let c = m.config, T = 9
        let (f, d) = randomRows(T, D: 3, Cf: 12, seed: 21)
        let tokens = [5, 17, 2, 33, 8, 1, 19, 24, 6]
        let ws = TrainingWorkspace(config: c, B: 1, T: T)
        ws.features!.input.pointer.update(from: f.pointer, count: f.count)
        ws.features!.staleness = d
        m.forward(tokens: tokens.map(Int32.init), workspace: ws)
        // Appended in pieces, as a draft is: 4 rows, then 1, then 4.
        let session = InferenceSession(model: m)
        var rows: [Float] = []
        for (lo, hi) in [(0, 4), (4, 5), (5, 9)] {
            let logits = try session.append(Array(tokens[lo..<hi]), features: f.pointer + lo * 12, staleness: Array(d[lo..<hi]))
            rows += Array(UnsafeBufferPointer(start: logits.pointer, count: (hi - lo) * c.vocabSize))
        }
        let trained = Array(UnsafeBufferPointer(start: ws.logits.pointer, count: T * c.vocabSize))
        let worst = zip(rows, trained).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4, "session and training forward disagree by \(worst)")
    }

    /// config.json, safetensors and GGUF keep D, Cf and W; the runtime refuses inconsistent sizes.
    func testFilesCarryTheFeatureInput() throws {
        let m = try micro(D: 2, Cf: 16)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("feat-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try m.save(directory: dir)
        let back = try TransformerModel.load(directory: dir)
        XCTAssertEqual(back.config.featureStaleness, 2)
        XCTAssertEqual(back.config.featureWidth, 16)
        XCTAssertEqual(maxAbs(back.parameters[FeatureInput.parameterName], minus: m.parameters[FeatureInput.parameterName]), 0)
        let gguf = dir.appendingPathComponent("m.gguf")
        _ = try GGUFModelWriter.write(m, to: gguf, type: .q8_0, tokenizerSource: nil)
        for weights in [WeightStorage.f32, .native] {
            let g = try GGUFModelLoader.load(gguf, weights: weights).model
            XCTAssertEqual(g.config.featureStaleness, 2, "\(weights)")
            XCTAssertEqual(maxAbs(g.parameters[FeatureInput.parameterName], minus: m.parameters[FeatureInput.parameterName]), 0,
                           "W is stored as F32 (\(weights))")
        }
        var bad = m.config
        bad.featureWidth = 0
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("specdistill_feature_staleness"), "\($0)") }
    }
}

/// max |a − b| over the elements.
func maxAbs(_ a: Tensor, minus b: Tensor) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a.pointer[i] - b.pointer[i])) }
    return m
}

/// max |a − v| over the elements.
func maxAbs(_ a: Tensor, minus v: Float) -> Float {
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a.pointer[i] - v)) }
    return m
}
