import Tensor
import TestSupport
import XCTest

final class EmbeddingTests: XCTestCase {
    /// Ids with repeats (a vocabulary smaller than the number of rows), so the scatter-add must sum.
    private func ids(_ rows: Int, V: Int, rng: inout RandomGenerator) -> [Int32] {
        (0..<rows).map { _ in Int32(rng.next() % UInt64(V)) }
    }

    func testForwardAndBackwardMatchReferences() {
        var rng = RandomGenerator(seed: 501)
        for (rows, C) in kernelShapes {
            let V = max(1, rows / 2 + 1)
            let table = rng.normalTensor([V, C]), dy = rng.normalTensor([rows, C])
            let id = ids(rows, V: V, rng: &rng)
            let y = Tensor(zeros: [rows, C]), yR = Tensor(zeros: [rows, C])
            let dT = rng.normalTensor([V, C]), dTR = dT.copy()
            id.withUnsafeBufferPointer { p in
                Embedding.forward(out: y.pointer, ids: p.baseAddress!, table: table.pointer, rows: rows, C: C)
                Embedding.forwardReference(out: yR.pointer, ids: p.baseAddress!, table: table.pointer, rows: rows, C: C)
                Embedding.backward(dTable: dT.pointer, dOut: dy.pointer, ids: p.baseAddress!, rows: rows, C: C)
                Embedding.backwardReference(dTable: dTR.pointer, dOut: dy.pointer, ids: p.baseAddress!, rows: rows, C: C)
            }
            XCTAssertEqual(y.array, yR.array, "embedding forward \(rows)x\(C) is a copy")
            assertClose(dT, dTR, rtol: kernelRtol, atol: kernelAtol, "embedding backward \(rows)x\(C)")
        }
    }

    func testLookupCopiesTheRightRows() throws {
        let table = try Tensor(shape: [3, 2], values: [0, 1, 10, 11, 20, 21])
        XCTAssertEqual(try embedding(ids: [2, 0, 2, 1], table: table).array, [20, 21, 0, 1, 20, 21, 10, 11])
    }

    func testGradientByFiniteDifferencesAndAccumulation() {
        var rng = RandomGenerator(seed: 502)
        let (V, C, rows) = (4, 3, 7)
        let table = rng.normalTensor([V, C]), y = Tensor(zeros: [rows, C]), dT = Tensor(zeros: [V, C])
        let id: [Int32] = [1, 3, 1, 0, 1, 3, 0]  // id 2 unused: its gradient must stay 0
        let project = Projection(shape: [rows, C], rng: &rng)
        id.withUnsafeBufferPointer { p in
            Embedding.backward(dTable: dT.pointer, dOut: project.weights.pointer, ids: p.baseAddress!, rows: rows, C: C)
            assertGradients(wrt: [table], analytic: [dT]) {
                Embedding.forward(out: y.pointer, ids: p.baseAddress!, table: table.pointer, rows: rows, C: C)
                return project(y)
            }
            assertAccumulates([[V, C]], rng: &rng, "embedding") { g in
                Embedding.backward(dTable: g[0].pointer, dOut: project.weights.pointer, ids: p.baseAddress!, rows: rows, C: C)
            }
        }
        XCTAssertEqual(dT.row(2).array, [0, 0, 0])
    }

    func testThreadCountDoesNotChangeBits() {
        var rng = RandomGenerator(seed: 503)
        let (rows, C, V) = (130, 257, 11)
        let table = rng.normalTensor([V, C]), dy = rng.normalTensor([rows, C])
        let id = ids(rows, V: V, rng: &rng)
        id.withUnsafeBufferPointer { p in
            assertThreadIndependent([Tensor(zeros: [rows, C])], "embedding forward") {
                Embedding.forward(out: $0[0].pointer, ids: p.baseAddress!, table: table.pointer, rows: rows, C: C)
            }
            assertThreadIndependent([rng.normalTensor([V, C])], "embedding backward") {
                Embedding.backward(dTable: $0[0].pointer, dOut: dy.pointer, ids: p.baseAddress!, rows: rows, C: C)
            }
        }
    }

    func testOutOfRangeIdIsAnError() {
        let table = Tensor(zeros: [5, 2])
        assertShapeError(["id 5", "position 1", "[5, 2]"]) { try embedding(ids: [0, 5], table: table) }
        assertShapeError(["id -1", "[5, 2]"]) { try embedding(ids: [-1], table: table) }
        assertShapeError(["[10]"]) { try embedding(ids: [0], table: Tensor(zeros: [10])) }
    }
}
