import Foundation
import SpecDecode
import Tensor
import Transformer
import XCTest

/// A draft with a trimmed output layer (``OutputSubset``): the subset by frequency, the restricted
/// session against the full one, and that speculative decoding stays exact with it.
final class OutputSubsetTests: XCTestCase {
    func testMostFrequentCountsTiesAndAlways() throws {
        // counts: 5 → 3, 3 → 2, 7 → 1, 1 → 1; k = 2 keeps 5 and 3; 9 is always kept.
        let s = try OutputSubset.mostFrequent(2, in: [[5, 5, 3], [3, 5, 7, 1]], always: [9], vocabularySize: 10)
        XCTAssertEqual(s.ids, [3, 5, 9])
        // A tie (1 and 7 once each) goes to the lower id; never-seen ids are not added.
        XCTAssertEqual(try OutputSubset.mostFrequent(3, in: [[5, 5, 3], [3, 5, 7, 1]], always: [], vocabularySize: 10).ids, [1, 3, 5])
        XCTAssertEqual(try OutputSubset.mostFrequent(50, in: [[2, 2]], always: [0], vocabularySize: 10).ids, [0, 2])
        XCTAssertEqual(s.coverage(of: [[5, 3, 7, 9]]), 0.75)
        XCTAssertThrowsError(try OutputSubset.mostFrequent(0, in: [[1]], always: [], vocabularySize: 10))
        XCTAssertThrowsError(try OutputSubset.mostFrequent(2, in: [[1, 10]], always: [], vocabularySize: 10))
        XCTAssertThrowsError(try OutputSubset(ids: [], vocabularySize: 10))
        XCTAssertThrowsError(try OutputSubset(ids: [3, -1], vocabularySize: 10))
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("TransformerTests/Fixtures")
    func load(_ name: String) throws -> TransformerModel {
        try TransformerModel.load(directory: OutputSubsetTests.fixtures.appendingPathComponent(name))
    }
    /// Every third token of the fixtures' V = 96, plus 95.
    let kept = try! OutputSubset(ids: Array(stride(from: 0, to: 96, by: 3)) + [95], vocabularySize: 96)

    /// Kept logits are bitwise those of the full head (same fixed-order dot products), the others
    /// are the excluded logit; for single appends and a 5-token append, tied and untied heads.
    func testRestrictedSessionMatchesFullHeadOnKeptRows() throws {
        for name in ["llama", "llama_tied"] {
            let model = try load(name)
            let full = SessionModel(model: model), trimmed = SessionModel(model: model, outputSubset: kept)
            for tokens in [[4], [17, 3, 88, 40, 2], [61]] {
                let a = try full.append(tokens), b = try trimmed.append(tokens)
                let keptSet = Set(kept.ids)
                for r in 0..<tokens.count {
                    for v in 0..<96 {
                        let got = b.pointer[r * 96 + v]
                        if keptSet.contains(v) { XCTAssertEqual(got.bitPattern, a.pointer[r * 96 + v].bitPattern, "\(name) row \(r) id \(v)") }
                        else { XCTAssertEqual(got, OutputSubset.excludedLogit, "\(name) row \(r) id \(v)") }
                    }
                }
            }
            // Bytes per step: the head's 96 rows of C = 32 become 33 rows (see RealModelTests).
            XCTAssertEqual(trimmed.weightBytesPerStep, (21664 - (96 - 33) * 32) * 4)
            XCTAssertEqual(full.weightBytesPerStep, 21664 * 4)
        }
    }

    /// Greedy speculative decoding with a trimmed draft still equals plain greedy decoding of the
    /// target, for several gammas, and some drafts are accepted.
    func testGreedyOutputUnchangedWithTrimmedDraft() throws {
        let target = try load("llama"), draft = try load("llama_tied")
        let prompt = [1, 40, 3, 95, 12]
        let plain = try PlainDecoder(model: SessionModel(model: target), sampling: .greedy, seed: 1).decode(prompt: prompt, maxTokens: 50)
        for gamma in [1, 2, 4] {
            let dec = try makeDecoder(target: SessionModel(model: target), draft: SessionModel(model: draft, outputSubset: kept),
                                      draftSettings: DraftSettings(draftMax: gamma))
            let out = try dec.decode(prompt: prompt, maxTokens: 50)
            XCTAssertEqual(out.tokens, plain.tokens, "gamma \(gamma)")
        }
    }

    /// The decoder computes a trimmed draft's token and confidence from its kept logits only
    /// (``DecodingModel/outputIDs``): at temperature 1 its distribution (``Softmax/temperedRowSubset``)
    /// and draw (``RandomGenerator/checkedCategorical(_:ids:lanes:count:)``), greedily its argmax
    /// and top probability (``Softmax/topProbability(_:lanes:count:maximum:scratch:)``) — bit for
    /// bit the full-width values, so the same seed gives the same tokens and statistics as with the
    /// ids hidden (the draft wrapped so that it hides them). The confidence stop (p-min 0.4) makes
    /// the drafted counts depend on the top probability; greedily the target drafts for itself
    /// (through its trimmed head), so drafts are accepted.
    func testSubsetSamplingEqualsFullWidthSampling() throws {
        let target = try load("llama")
        let prompt = [1, 40, 3, 95, 12]
        for temperature: Float in [1, 0] {
            // Greedily the other fixture's argmax never matches the target's: the target itself drafts.
            let draft = temperature > 0 ? try load("llama_tied") : target
            for (gamma, seed) in [(1, UInt64(3)), (3, 4), (4, 5)] {
                var outputs: [[Int]] = [], accepted: [Int] = [], drafted: [Int] = [], rounds: [Int] = []
                for hide in [false, true] {
                    let session = SessionModel(model: draft, outputSubset: kept)
                    XCTAssertEqual(session.outputIDs, kept.ids.map(Int32.init))
                    let d: DecodingModel = hide ? HiddenIDs(session) : session
                    let dec = try makeDecoder(target: SessionModel(model: target), draft: d,
                                              sampling: SamplingSettings(temperature: temperature),
                                              draftSettings: DraftSettings(draftMax: gamma, draftMin: 1, draftPMin: 0.4), seed: seed)
                    let out = try dec.decode(prompt: prompt, maxTokens: 60)
                    outputs.append(out.tokens); accepted.append(out.statistics.accepted); drafted.append(out.statistics.drafted)
                    rounds.append(out.statistics.rounds)
                }
                let label = "T \(temperature), gamma \(gamma)"
                XCTAssertEqual(outputs[0], outputs[1], label)
                XCTAssertEqual(accepted[0], accepted[1], label)
                XCTAssertEqual(drafted[0], drafted[1], label)
                XCTAssertGreaterThan(accepted[0], 0, "\(label): some drafts must be accepted for the test to mean anything")
                if gamma > 1 { XCTAssertLessThan(drafted[0], gamma * rounds[0], "\(label): the confidence stop must cut some drafts") }
            }
        }
    }


    /// Lossless with a draft that puts zero probability on most tokens: the emitted tokens follow
    /// the target (chi-square over the first two tokens; V = 5, the draft keeps only {0, 2}).
    func testRejectionSamplingStaysLosslessWithZeroDraftMass() throws {
        let V = 5
        let target = TransitionModel.random(V: V, seed: 31, scale: 1.5)
        var table = TransitionModel.perturbed(target, seed: 32, noise: 0.5).table
        for i in table.indices where ![0, 2].contains(i % V) { table[i] = OutputSubset.excludedLogit }
        let draft = TransitionModel(width: V, table: table)
        let settings = SamplingSettings(temperature: 1)
        func p(_ context: Int) -> [Double] { referenceDistribution(target.table[(context * V)..<((context + 1) * V)], temperature: 1, topK: 0) }
        let expected = (0..<(V * V)).map { p(1)[$0 / V] * p($0 / V)[$0 % V] }
        let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), sampling: settings,
                                  draftSettings: DraftSettings(draftMax: 2), seed: 77)
        var counts = [Int](repeating: 0, count: V * V), accepted = 0
        for _ in 0..<20_000 {
            let out = try dec.decode(prompt: [1], maxTokens: 3)
            counts[out.tokens[0] * V + out.tokens[1]] += 1
            accepted += out.statistics.accepted
        }
        XCTAssertGreaterThan(accepted, 2_000, "the draft's kept tokens must be accepted often")
        ChiSquare(observed: counts, expected: expected).assertConsistent("trimmed draft")
    }
}

/// A draft that forwards everything but hides its trimmed head's ids (``DecodingModel/outputIDs`` nil).
private final class HiddenIDs: ForwardingModel {
    override var outputIDs: [Int32]? { nil }
}
