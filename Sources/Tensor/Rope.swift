import Foundation

/// Precomputed cosines and sines of rotary position embedding (RoPE, Su et al. 2021, §3.4).
///
/// Entry `(pos, i)` for `pos < maxPositions`, `i < rotaryDim/2` holds `cos` and `sin` of the angle
/// `pos · theta^(-2i/rotaryDim)`, computed in Double and rounded once to Float (Hugging Face
/// computes the angle in float32, so at large positions the two differ by float32 rounding of
/// the angle, about `pos · 6e-8` radians).
public struct RopeTable: Sendable {
    /// Number of positions the table covers (`0..<maxPositions`).
    public let maxPositions: Int
    /// Number of leading dimensions of each head that are rotated (even, at most HS).
    public let rotaryDim: Int
    /// Base of the frequencies (10000 for Llama / GPT-NeoX, 1e6 for Qwen2 …).
    public let theta: Float
    /// `(maxPositions, rotaryDim/2)` cosines.
    public let cos: [Float]
    /// `(maxPositions, rotaryDim/2)` sines.
    public let sin: [Float]

    /// - Parameters:
    ///   - maxPositions: positions `0..<maxPositions` are tabulated.
    ///   - rotaryDim: rotated dimensions per head; even and positive.
    ///   - theta: frequency base, positive.
    public init(maxPositions: Int, rotaryDim: Int, theta: Float) {
        precondition(maxPositions >= 0, "RopeTable: negative maxPositions \(maxPositions)")
        precondition(rotaryDim > 0 && rotaryDim % 2 == 0, "RopeTable: rotaryDim must be even and positive, got \(rotaryDim)")
        precondition(theta > 0, "RopeTable: theta must be positive, got \(theta)")
        self.maxPositions = maxPositions
        self.rotaryDim = rotaryDim
        self.theta = theta
        let half = rotaryDim / 2
        var c = [Float](repeating: 0, count: maxPositions * half)
        var s = [Float](repeating: 0, count: maxPositions * half)
        for i in 0..<half {
            let frequency = Foundation.pow(Double(theta), -2 * Double(i) / Double(rotaryDim))
            for pos in 0..<maxPositions {
                let angle = Double(pos) * frequency
                c[pos * half + i] = Float(Foundation.cos(angle))
                s[pos * half + i] = Float(Foundation.sin(angle))
            }
        }
        cos = c
        sin = s
    }
}

/// Rotary position embedding, rotate-half convention (Hugging Face Llama / Qwen2 / GPT-NeoX):
/// with `d = rotaryDim/2`, for `i < d` the pair `(x_i, x_{i+d})` of each head becomes
/// `(x_i cos a − x_{i+d} sin a, x_i sin a + x_{i+d} cos a)` with `a = pos · theta^(-2i/rotaryDim)`;
/// dimensions `rotaryDim..<HS` are untouched (GPT-NeoX partial rotary).
///
/// Rows are `rows` vectors at row stride `stride`; each holds `heads` heads of `HS` floats at
/// columns `h·HS` (a view into a fused qkv buffer works: pass the q or k base and its width).
/// The position of row `r` is `start + r % period`: training passes `start 0, period T` for
/// `(B, T)` rows; inference passes `start past, period n` for `n` new rows.
public enum Rope {
    /// Rotates `x` in place by the position angles.
    /// - Parameters:
    ///   - x: first row; element `(r, h, j)` at `x[r·stride + h·HS + j]`.
    ///   - stride: row stride in elements (≥ heads·HS).
    ///   - rows: number of rows.
    ///   - start, period: row `r` is at position `start + r % period`.
    ///   - heads: heads per row; HS: head size (≥ table.rotaryDim).
    ///   - table: cosines and sines covering every position used.
    public static func forward(_ x: UnsafeMutablePointer<Float>, stride: Int, rows: Int, start: Int, period: Int,
                               heads: Int, HS: Int, table: RopeTable) {
        apply(x, stride: stride, rows: rows, start: start, period: period, heads: heads, HS: HS, table: table, sign: 1)
    }

    /// The transpose of ``forward(_:stride:rows:start:period:heads:HS:table:)``: rotation by the
    /// negative angles, applied in place to the gradient with respect to the rotated values, which
    /// turns it into the gradient with respect to the values before rotation. Same arguments.
    public static func backward(_ dx: UnsafeMutablePointer<Float>, stride: Int, rows: Int, start: Int, period: Int,
                                heads: Int, HS: Int, table: RopeTable) {
        apply(dx, stride: stride, rows: rows, start: start, period: period, heads: heads, HS: HS, table: table, sign: -1)
    }

    private static func check(rows: Int, start: Int, period: Int, heads: Int, HS: Int, stride: Int, table: RopeTable) {
        precondition(rows >= 0 && heads >= 0 && start >= 0 && period > 0,
                     "Rope: invalid rows \(rows), heads \(heads), start \(start), period \(period)")
        precondition(HS >= table.rotaryDim, "Rope: head size \(HS) is smaller than rotaryDim \(table.rotaryDim)")
        precondition(stride >= heads * HS, "Rope: row stride \(stride) is less than heads·HS = \(heads * HS)")
        let last = start + min(rows, period) - 1
        precondition(rows == 0 || last < table.maxPositions,
                     "Rope: position \(last) is beyond the table's \(table.maxPositions) positions; build a larger RopeTable")
    }

    private static func apply(_ x: UnsafeMutablePointer<Float>, stride: Int, rows: Int, start: Int, period: Int,
                              heads: Int, HS: Int, table: RopeTable, sign: Float) {
        check(rows: rows, start: start, period: period, heads: heads, HS: HS, stride: stride, table: table)
        let half = table.rotaryDim / 2
        table.cos.withUnsafeBufferPointer { cosBuffer in
            table.sin.withUnsafeBufferPointer { sinBuffer in
                let cosBase = cosBuffer.baseAddress!, sinBase = sinBuffer.baseAddress!
                // About 3·heads·half flops per row: below ~8K rows of work a thread is not worth it.
                parallelFor(rows, minChunk: max(1, 65_536 / max(1, heads * half))) { range in
                    for r in range {
                        let pos = start + r % period
                        let c = cosBase + pos * half, s = sinBase + pos * half
                        let row = x + r * stride
                        for h in 0..<heads {
                            let lo = row + h * HS, hi = lo + half
                            for i in 0..<half {
                                let a = lo[i], b = hi[i], ci = c[i], si = sign * s[i]
                                lo[i] = a * ci - b * si
                                hi[i] = a * si + b * ci
                            }
                        }
                    }
                }
            }
        }
    }

    /// Plain-loop reference of ``forward(_:stride:rows:start:period:heads:HS:table:)`` that
    /// computes every angle itself in Double from `rotaryDim` and `theta` (no table).
    public static func forwardReference(_ x: UnsafeMutablePointer<Float>, stride: Int, rows: Int, start: Int, period: Int,
                                        heads: Int, HS: Int, rotaryDim: Int, theta: Double) {
        reference(x, stride: stride, rows: rows, start: start, period: period, heads: heads, HS: HS,
                  rotaryDim: rotaryDim, theta: theta, sign: 1)
    }

    /// Plain-loop reference of ``backward(_:stride:rows:start:period:heads:HS:table:)``.
    public static func backwardReference(_ dx: UnsafeMutablePointer<Float>, stride: Int, rows: Int, start: Int, period: Int,
                                         heads: Int, HS: Int, rotaryDim: Int, theta: Double) {
        reference(dx, stride: stride, rows: rows, start: start, period: period, heads: heads, HS: HS,
                  rotaryDim: rotaryDim, theta: theta, sign: -1)
    }

    private static func reference(_ x: UnsafeMutablePointer<Float>, stride: Int, rows: Int, start: Int, period: Int,
                                  heads: Int, HS: Int, rotaryDim: Int, theta: Double, sign: Double) {
        let half = rotaryDim / 2
        for r in 0..<rows {
            let pos = Double(start + r % period)
            for h in 0..<heads {
                for i in 0..<half {
                    let angle = sign * pos * Foundation.pow(theta, -2 * Double(i) / Double(rotaryDim))
                    let p = r * stride + h * HS + i
                    let a = Double(x[p]), b = Double(x[p + half])
                    x[p] = Float(a * Foundation.cos(angle) - b * Foundation.sin(angle))
                    x[p + half] = Float(a * Foundation.sin(angle) + b * Foundation.cos(angle))
                }
            }
        }
    }
}
