import Tensor
import TestSupport
import XCTest

/// Fast float32 kernels against Double references. The fast paths sum up to a few hundred
/// float32 terms (relative error ≲ n · 6e-8 ≈ 1.5e-5 for n = 257) and use a vectorised exp
/// accurate to a few ulp; backward formulas subtract row means, which turns that into absolute
/// errors of ~1e-6 on unit-scale data. 1e-4 relative + 1e-5 absolute passes those and fails a
/// wrong term, index or sign (differences of order 1e-1 and more).
let kernelRtol = 1e-4, kernelAtol = 1e-5

/// `(rows, cols)` every row kernel is tested on: the awkward sizes crossed, plus one shape large
/// enough (130 × 257) that the parallel loops split over two threads and rows have vector tails.
let kernelShapes: [(rows: Int, cols: Int)] = awkwardSizes.flatMap { r in awkwardSizes.map { (r, $0) } } + [(130, 257)]

/// Small `(rows, cols)` shapes for finite-difference checks (every element is perturbed twice).
let gradientShapes: [(rows: Int, cols: Int)] = [(1, 1), (1, 3), (3, 17), (2, 9)]

/// Runs `body` with ``Threads/count`` set to `n`, restoring the previous setting afterwards.
func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
    let saved = Threads.count
    Threads.count = n
    defer { Threads.count = saved }
    return try body()
}

/// Asserts `a` and `b` hold identical bits.
func assertBitwiseEqual(_ a: Tensor, _ b: Tensor, _ message: @autoclosure () -> String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    guard a.shape == b.shape else {
        XCTFail("shapes differ: \(a.shape) vs \(b.shape) \(message())", file: file, line: line)
        return
    }
    for i in 0..<a.count where a.pointer[i].bitPattern != b.pointer[i].bitPattern {
        XCTFail("\(message()): first difference at flat index \(i): \(a.pointer[i]) vs \(b.pointer[i])", file: file, line: line)
        return
    }
}

/// Runs `kernel` on independent copies of `outputs` with 1 and with 2 threads and asserts the
/// results are bitwise equal (the kernel must overwrite or accumulate into the tensors it gets).
func assertThreadIndependent(_ outputs: [Tensor], _ message: @autoclosure () -> String,
                             file: StaticString = #filePath, line: UInt = #line, kernel: ([Tensor]) -> Void) {
    let one = outputs.map { $0.copy() }, two = outputs.map { $0.copy() }
    withThreads(1) { kernel(one) }
    withThreads(2) { kernel(two) }
    for (i, (a, b)) in zip(one, two).enumerated() {
        assertBitwiseEqual(a, b, "\(message()) output \(i), 1 vs 2 threads", file: file, line: line)
    }
}

/// Asserts that `backward` accumulates: run on gradients pre-filled with random values it must
/// leave `prefill + (what it writes into zeroed gradients)`. Also asserts the zeroed run wrote
/// something, so a backward that does nothing cannot pass.
func assertAccumulates(_ shapes: [[Int]], rng: inout RandomGenerator, _ message: @autoclosure () -> String,
                       file: StaticString = #filePath, line: UInt = #line, backward: ([Tensor]) -> Void) {
    let fresh = shapes.map { Tensor(zeros: $0) }
    backward(fresh)
    XCTAssertTrue(fresh.contains { $0.array.contains { $0 != 0 } }, "\(message()): backward wrote nothing", file: file, line: line)
    let prefilled = shapes.map { rng.normalTensor($0) }
    let expected = zip(prefilled, fresh).map { p, g in zip(p.array, g.array).map { Double($0) + Double($1) } }
    backward(prefilled)
    for (i, (got, want)) in zip(prefilled, expected).enumerated() {
        assertClose(got.array, want, rtol: kernelRtol, atol: kernelAtol, "\(message()) gradient \(i) accumulation",
                    file: file, line: line)
    }
}

/// Asserts a throwing call fails with a shape mismatch whose message contains every string in `parts`.
func assertShapeError<T>(_ parts: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        guard case TensorError.shapeMismatch(let m) = error else {
            XCTFail("expected a shape mismatch, got \(error)", file: file, line: line)
            return
        }
        for p in parts { XCTAssertTrue(m.contains(p), "message \"\(m)\" does not name \(p)", file: file, line: line) }
    }
}
