import Foundation
import FuzzKit
import XCTest

/// A few hundred fuzzed inputs per format through the public loaders, in this process: a crash
/// or trap ends the test run (a failure), a hang shows as an input over the time bound, and
/// every refusal must be a bounded error message. `Scripts/fuzz FORMAT --seed 42` runs the same
/// inputs (same seed, same indices) in child processes; campaigns run 10,000 per format.
final class FuzzInProcessTests: XCTestCase {
    /// Inputs per format: enough to reach every mutation kind, cheap enough (≈ 2–5 ms each) for
    /// the whole test to stay well under a minute on two busy cores (8–20 s here).
    static let inputsPerFormat = 200
    /// An input that takes longer than this is a hang (the slowest valid input takes ≈ 50 ms).
    static let timeBound = 5.0

    func testEveryFormatGivesCleanErrorsOrUsableResults() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for format in FuzzFormat.allCases {
            let seeds = try FuzzSeedIndex.write(root.appendingPathComponent("seeds"), format)
            // Every seed itself must load: otherwise the mutations test nothing but one error.
            for s in seeds {
                XCTAssertEqual(FuzzTarget.report(format, input: s.directory), "accepted", "\(format) seed \(s.target)")
            }
            var errors = 0, accepted = 0
            for i in 0..<Self.inputsPerFormat {
                let start = Date()
                let outcome = FuzzCampaign.runInProcess(format, seeds: seeds, seed: 42, first: i, count: 1,
                                                        work: root.appendingPathComponent("work"))[0]
                let seconds = Date().timeIntervalSince(start)
                XCTAssertLessThan(seconds, Self.timeBound, "\(format) input \(i) took \(seconds) s (replay: Scripts/fuzz \(format) --seed 42)")
                switch outcome {
                case .accepted: accepted += 1
                case .error(let n):
                    XCTAssertGreaterThanOrEqual(n, 0, "\(format) input \(i): the harness could not write the input")
                    XCTAssertLessThanOrEqual(n, FuzzCampaign.maxMessageLength, "\(format) input \(i): error message of \(n) characters")
                    errors += 1
                }
            }
            // Both outcomes occur: the mutations neither leave every input valid nor break every one.
            XCTAssertGreaterThan(errors, Self.inputsPerFormat / 10, "\(format): only \(errors) refused inputs")
            XCTAssertGreaterThan(accepted, 0, "\(format): no input was accepted")
        }
    }

    func testInputsAreDeterministic() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-det-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let seeds = try FuzzSeedIndex.write(root.appendingPathComponent("seeds"), .config)
        let a = try Data(contentsOf: FuzzCampaign.makeInput(.config, seeds: seeds, seed: 5, index: 17, work: root.appendingPathComponent("a")).file)
        let b = try Data(contentsOf: FuzzCampaign.makeInput(.config, seeds: seeds, seed: 5, index: 17, work: root.appendingPathComponent("b")).file)
        let c = try Data(contentsOf: FuzzCampaign.makeInput(.config, seeds: seeds, seed: 5, index: 18, work: root.appendingPathComponent("c")).file)
        XCTAssertEqual(a, b, "input 17 of seed 5 must be the same bytes every time (the parent re-creates crashing inputs)")
        XCTAssertNotEqual(a, c)
    }
}
