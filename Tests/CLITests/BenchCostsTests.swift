import Foundation
import XCTest

/// `bench costs`: candidates timed together, the JSON other scripts (Scripts/demo's shape choice) read.
final class BenchCostsTests: XCTestCase {
    func testTwoCandidatesAndTheirForecast() throws {
        let f = try CLIFixture.get()
        let out = f.directory.appendingPathComponent("costs-\(UUID().uuidString).json")
        let r = try CLI.run(["bench", "costs", "-m", f.target, "-md", "self=\(f.target),padded=\(f.paddedDraft)", "--alpha", "self=0.6",
                             "--repetitions", "2", "--max-gamma", "3", "--context", "8", "--threads", "1", "--json", out.path],
                            in: f.directory)
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertTrue(r.stdout.contains("verification v(gamma)"), r.transcript)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["name"] as? String }, ["self", "padded"])
        for row in rows {
            XCTAssertGreaterThan(row["costRatio"] as? Double ?? 0, 0, "\(row)")
            let costs = try XCTUnwrap(row["costs"] as? [String: Any])
            XCTAssertEqual((costs["verifySeconds"] as? [Double])?.count, 3)
            XCTAssertEqual(costs["context"] as? Int, 8)
            XCTAssertEqual(row["type"] as? String, "float32", "an HF target: drafts are timed as loaded")
        }
        XCTAssertEqual(rows[0]["alpha"] as? Double, 0.6)
        let gamma = try XCTUnwrap(rows[0]["bestGamma"] as? Int)
        XCTAssertTrue((1...3).contains(gamma))
        XCTAssertGreaterThan(rows[0]["predictedSpeedup"] as? Double ?? 0, 0)
        XCTAssertNil(rows[1]["predictedSpeedup"], "no --alpha for padded: no forecast")
    }
}
