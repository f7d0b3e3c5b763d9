/// Errors thrown by tensor operations on user-reachable paths.
///
/// Internal invariants are `precondition`s with the same kind of message; anything a user's
/// input can trigger (a data file, a model file, a CLI option) is a thrown error that names
/// both shapes involved.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// Two shapes that must agree do not; the message names both.
    case shapeMismatch(String)
    /// A LAPACK routine reported failure.
    case lapack(String)
    /// Sampling weights that are not a distribution (NaN, infinite, negative, or all zero).
    case invalidDistribution(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .lapack(let m): return "LAPACK error: \(m)"
        case .invalidDistribution(let m): return "cannot sample: \(m)"
        }
    }
}

/// Throws ``TensorError/shapeMismatch(_:)`` naming both shapes unless they are equal.
@inlinable
public func checkSameShape(_ a: [Int], _ b: [Int], _ what: @autoclosure () -> String) throws {
    if a != b { throw TensorError.shapeMismatch("\(what()): \(a) vs \(b)") }
}

/// The same check as a precondition, for internal invariants.
@inlinable
public func requireSameShape(_ a: [Int], _ b: [Int], _ what: @autoclosure () -> String,
                             file: StaticString = #file, line: UInt = #line) {
    precondition(a == b, "shape mismatch: \(what()): \(a) vs \(b)", file: file, line: line)
}
