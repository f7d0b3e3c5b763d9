import Foundation
import SpecDecode
import Tensor
import Transformer
import XCTest

/// A speculative decoder with a fixed adaptive cost ratio (so every schedule is reproducible).
func makeDecoder(target: DecodingModel, draft: DecodingModel, sampling: SamplingSettings = .greedy,
                 acceptance: AcceptanceRule? = nil, draftSettings: DraftSettings, seed: UInt64 = 1,
                 vocabularySize: Int? = nil) throws -> SpeculativeDecoder {
    try SpeculativeDecoder(target: target, draft: draft,
                           configuration: SpeculativeConfiguration(sampling: sampling, acceptance: acceptance,
                                                                   draft: draftSettings, seed: seed),
                           vocabularySize: vocabularySize, costSource: .fixed(0.2))
}

/// Every draft-length setting the equality tests sweep: constant gamma ∈ {1, 2, 4, 8}, the
/// heuristic and adaptive schedules, the confidence stop with and without a floor, and the
/// cost-aware stop.
let scheduleSweep: [DraftSettings] = [1, 2, 4, 8].map { DraftSettings(draftMax: $0) } + [
    DraftSettings(draftMax: 6, schedule: .heuristic),
    DraftSettings(draftMax: 8, draftMin: 2, schedule: .adaptive),
    DraftSettings(draftMax: 5, draftPMin: 0.6),
    DraftSettings(draftMax: 5, draftMin: 3, draftPMin: 0.9, schedule: .heuristic),
    DraftSettings(draftMax: 6, draftPMinAuto: true),
]

/// Independent reference of the sampling distribution, in Double: `softmax(u / T)`, keep the
/// `topK` most probable (lower id first on ties; 0 = all), renormalise.
func referenceDistribution(_ logits: ArraySlice<Float>, temperature T: Double, topK: Int) -> [Double] {
    let u = logits.map(Double.init)
    let m = u.max()!
    var p = u.map { Foundation.exp(($0 - m) / T) }
    let z = p.reduce(0, +)
    p = p.map { $0 / z }
    if topK > 0 && topK < p.count {
        let order = p.indices.sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }
        for i in order[topK...] { p[i] = 0 }
        let kept = p.reduce(0, +)
        p = p.map { $0 / kept }
    }
    return p
}

/// Pearson's chi-square of observed counts against expected probabilities. Cells whose expected
/// count is below 5 are pooled into one cell (the usual validity rule); an observation in a cell
/// of probability 0 is reported separately (it is impossible under the hypothesis).
struct ChiSquare {
    var statistic = 0.0
    var degreesOfFreedom = 0
    var impossible = 0

    init(observed: [Int], expected probs: [Double]) {
        let n = Double(observed.reduce(0, +))
        var pooledObserved = 0.0, pooledExpected = 0.0, cells = 0
        for (o, p) in zip(observed, probs) {
            if p == 0 { impossible += o; continue }
            let e = p * n
            if e < 5 { pooledObserved += Double(o); pooledExpected += e; continue }
            statistic += (Double(o) - e) * (Double(o) - e) / e
            cells += 1
        }
        if pooledExpected > 0 {
            statistic += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected
            cells += 1
        }
        degreesOfFreedom = cells - 1
    }

    /// The upper 0.1% point of chi-square with `df` degrees of freedom (Wilson–Hilferty:
    /// `df·(1 − 2/(9df) + z·sqrt(2/(9df)))³`, z = 3.09 the normal's 0.999 quantile; accurate to a
    /// few percent for df ≥ 3, which is all these tests need at the sizes used).
    static func critical(df: Int, z: Double = 3.09) -> Double {
        let d = Double(df)
        let h = 2 / (9 * d)
        return d * Foundation.pow(1 - h + z * h.squareRoot(), 3)
    }

    /// Fails unless the counts are consistent with the probabilities at the 0.1% level.
    func assertConsistent(_ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(impossible, 0, "\(message): \(impossible) samples in zero-probability cells", file: file, line: line)
        let crit = ChiSquare.critical(df: degreesOfFreedom)
        XCTAssertLessThan(statistic, crit, "\(message): chi-square \(statistic) with \(degreesOfFreedom) df exceeds \(crit)",
                          file: file, line: line)
    }
}

/// A model that forwards every call to `inner` (``DecodingModel/extend(_:)`` is the protocol's
/// append-and-drop, so it goes through ``append(_:)``); test doubles override what they change.
class ForwardingModel: DecodingModel {
    let inner: DecodingModel
    init(_ inner: DecodingModel) { self.inner = inner }
    var logitWidth: Int { inner.logitWidth }
    var length: Int { inner.length }
    var capacity: Int { inner.capacity }
    var batchInvariantRows: Int { inner.batchInvariantRows }
    var weightBytesPerStep: Int { inner.weightBytesPerStep }
    var lastHiddenStates: Tensor? { inner.lastHiddenStates }
    var outputIDs: [Int32]? { inner.outputIDs }
    func append(_ tokens: [Int]) throws -> Tensor { try inner.append(tokens) }
    func truncate(to n: Int) { inner.truncate(to: n) }
}
