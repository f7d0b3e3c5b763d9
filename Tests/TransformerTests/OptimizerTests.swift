import Foundation
import Tensor
import TestSupport
import Transformer
import XCTest

/// The vectorised AdamW step and the chunked gradient norm against plain loops written here from
/// the formulas (AdamW.swift's documentation; ‖g‖ = sqrt(Σ g²) in Double).
final class OptimizerTests: XCTestCase {
    /// A parameter set with a decayed matrix whose size is not a multiple of 8 (the embedding, 72,084
    /// elements: two chunks of the norm) and an undecayed
    /// vector, filled with random values.
    func parameters(seed: UInt64) throws -> ParameterSet {
        let c = ModelConfig(architecture: .llama, vocabSize: 6007, hiddenSize: 12, numLayers: 1, numHeads: 2, intermediateSize: 20, maxPositions: 8)
        let m = try TransformerModel(config: c)
        var rng = RandomGenerator(seed: seed)
        for i in 0..<m.parameters.count { m.parameters.flat.pointer[i] = rng.normal() }
        return m.parameters
    }

    /// Three steps: bitwise equal to the scalar update (the SIMD lanes do the same IEEE operations).
    func testAdamWEqualsScalarFormulaBitwise() throws {
        let p = try parameters(seed: 1), g = try parameters(seed: 2)
        let settings = AdamWSettings(learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        let adam = AdamW(parameters: p, settings: settings)
        var ref = p.flat.array, m = [Float](repeating: 0, count: p.count), v = m
        for t in 1...3 {
            adam.step(parameters: p, gradients: g, lr: 1e-2)
            let b1 = settings.beta1, b2 = settings.beta2, lr: Float = 1e-2
            let stepSize = lr / (1 - pow(b1, Float(t))), bc2 = (1 - pow(b2, Float(t))).squareRoot()
            for info in p.infos {
                let d: Float = info.decay ? 1 - lr * settings.weightDecay : 1
                for i in info.offset..<(info.offset + info.count) {
                    let gi = g.flat.pointer[i]
                    ref[i] *= d
                    m[i] = b1 * m[i] + (1 - b1) * gi
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi
                    ref[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2 + settings.eps)
                }
            }
            XCTAssertEqual(p.flat.array.map(\.bitPattern), ref.map(\.bitPattern), "step \(t)")
        }
        XCTAssertTrue(p.infos.contains { !$0.decay } && p.infos.contains { $0.decay && $0.count % 8 != 0 },
                      "the fixture must exercise both paths and a SIMD tail")
    }

    /// The norm equals the Double sum of squares, and does not depend on the thread count.
    func testGlobalNormMatchesDoubleSum() throws {
        let g = try parameters(seed: 3)
        let want = g.flat.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(GradientClipping.globalNorm(g), want, accuracy: want * 1e-12)
        let saved = Threads.count
        defer { Threads.count = saved }
        var results: [UInt64] = []
        for n in [1, 2, 3] { Threads.count = n; results.append(GradientClipping.globalNorm(g).bitPattern) }
        XCTAssertEqual(Set(results).count, 1, "norm depends on the thread count")
    }
}
