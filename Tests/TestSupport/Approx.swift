// The TestSupport module owns what the test targets share: approximate equality of scalars and
// tensors that reports the largest errors and the first failing index (Approx), finite-difference
// gradient checks (GradientCheck), and the real models and vocabulary files the tests find or
// fetch (RealModels).

import Tensor
import XCTest

/// Result of an element-wise comparison: the largest absolute and relative errors and the first
/// index that failed `|a - b| <= atol + rtol * max(|a|, |b|)`.
public struct Comparison: CustomStringConvertible {
    public var maxAbs: Double = 0
    public var maxRel: Double = 0
    public var firstFailure: Int? = nil
    public var failures = 0
    public var count = 0
    public var passed: Bool { failures == 0 }
    public var description: String {
        let f = firstFailure.map { ", first failure at flat index \($0)" } ?? ""
        return "\(failures)/\(count) elements out of tolerance; max abs err \(maxAbs), max rel err \(maxRel)\(f)"
    }
}

/// Compares two sequences element-wise with the combined absolute/relative rule.
public func compare<A: Sequence, B: Sequence>(_ a: A, _ b: B, rtol: Double, atol: Double) -> Comparison
where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
    var c = Comparison()
    for (i, (x, y)) in zip(a, b).enumerated() {
        let xd = Double(x), yd = Double(y)
        let d = abs(xd - yd)
        let scale = max(abs(xd), abs(yd))
        c.count += 1
        c.maxAbs = max(c.maxAbs, d)
        if scale > 0 { c.maxRel = max(c.maxRel, d / scale) }
        if !(d <= atol + rtol * scale) {  // NaN fails too
            c.failures += 1
            if c.firstFailure == nil { c.firstFailure = i }
        }
    }
    return c
}

/// Asserts two tensors have the same shape and agree element-wise within tolerance; on failure
/// reports the largest absolute and relative errors and the first failing index.
public func assertClose(_ a: Tensor, _ b: Tensor, rtol: Double = 1e-5, atol: Double = 1e-6,
                        _ message: @autoclosure () -> String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    guard a.shape == b.shape else {
        XCTFail("shapes differ: \(a.shape) vs \(b.shape) \(message())", file: file, line: line)
        return
    }
    let c = compare(a.buffer, b.buffer, rtol: rtol, atol: atol)
    if !c.passed { XCTFail("\(message()) \(c)", file: file, line: line) }
}

/// Asserts two float arrays agree element-wise within tolerance.
public func assertClose<T: BinaryFloatingPoint, U: BinaryFloatingPoint>(
    _ a: [T], _ b: [U], rtol: Double = 1e-5, atol: Double = 1e-6,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard a.count == b.count else {
        XCTFail("counts differ: \(a.count) vs \(b.count) \(message())", file: file, line: line)
        return
    }
    let c = compare(a, b, rtol: rtol, atol: atol)
    if !c.passed { XCTFail("\(message()) \(c)", file: file, line: line) }
}

/// Asserts two scalars agree within tolerance.
public func assertClose(_ a: Double, _ b: Double, rtol: Double = 1e-5, atol: Double = 1e-6,
                        _ message: @autoclosure () -> String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    assertClose([a], [b], rtol: rtol, atol: atol, message(), file: file, line: line)
}
