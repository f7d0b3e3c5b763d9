/// The positions of a sorted id subset of an n-wide row, grouped by the lane a strided sum adds
/// them into: what lets a sum over K kept entries give **bit for bit** the sum over the whole row
/// whose other entries are zero.
///
/// A strided sum with `width` lanes (``RandomGenerator/sum(_:count:)``: 4 Double lanes;
/// ``Softmax/topProbability(_:n:maximum:)``: 8 Float lanes) adds entry i into lane `i mod width`
/// for i below `body = width·⌊n/width⌋`, in ascending order, and the entries from `body` on (the
/// tail) in ascending order where that sum puts them (`sum`: into lane 0, before the lanes'
/// fixed combining tree; `topProbability`: after it). Zeros add nothing, so the same result
/// follows from adding, per lane, only the kept entries of that lane in ascending order — each
/// lane one dependent chain, all lanes independent. Built once per id set (a trimmed
/// draft head's ids), used for every drafted token.
public struct SubsetLanes: Sendable {
    /// Lanes of the strided sum.
    public let width: Int
    /// Lane j's compact positions k (into the K kept values), `ids[k] < body` and
    /// `ids[k] mod width == j`, ascending, at `positions[starts[j] ..< starts[j + 1]]`.
    public let positions: [Int32]
    public let starts: [Int]
    /// The compact positions with `ids[k] ≥ body`, ascending.
    public let tail: [Int32]

    /// - Precondition: `ids` ascending, unique, inside `0..<n`.
    public init(ids: [Int32], n: Int, width: Int) {
        precondition(width >= 1 && ids.allSatisfy { $0 >= 0 && Int($0) < n }, "SubsetLanes: ids must lie in 0..<\(n)")
        precondition(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }, "SubsetLanes: ids must be ascending and unique")
        let body = n / width * width
        var lanes = [[Int32]](repeating: [], count: width), tail: [Int32] = []
        for (k, id) in ids.enumerated() {
            if Int(id) < body { lanes[Int(id) % width].append(Int32(k)) } else { tail.append(Int32(k)) }
        }
        self.width = width; self.tail = tail
        positions = lanes.flatMap { $0 }
        starts = lanes.reduce(into: [0]) { $0.append($0.last! + $1.count) }
    }

    /// Per lane j, `Σ values[k]` over lane j's positions in ascending order: the lanes' chains run
    /// side by side (one vector add per step, lane j adding its own next entry, so each lane's
    /// additions are exactly its scalar chain) while every lane has entries left, then each alone.
    func laneSums<S: SIMD>(_ values: UnsafePointer<Float>, _ zero: S, convert: (Float) -> S.Scalar) -> S
    where S.Scalar: BinaryFloatingPoint {
        precondition(S.scalarCount == width, "SubsetLanes.laneSums: \(S.scalarCount) lanes for a \(width)-lane sum")
        var acc = zero
        let common = (0..<width).map { starts[$0 + 1] - starts[$0] }.min() ?? 0
        positions.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!
            var step = zero
            for t in 0..<common {
                for j in 0..<width { step[j] = convert(values[Int(p[starts[j] + t])]) }
                acc += step
            }
            for j in 0..<width {
                for i in (starts[j] + common)..<starts[j + 1] { acc[j] += convert(values[Int(p[i])]) }
            }
        }
        return acc
    }
}

extension RandomGenerator {
    /// ``sum(_:count:)`` of the n-wide row that holds `values[k]` at `ids[k]` and zeros elsewhere,
    /// from the K values and their ``SubsetLanes`` (width 4): bitwise the full-row sum.
    public static func sum(_ values: UnsafePointer<Float>, lanes: SubsetLanes) -> Double {
        precondition(lanes.width == 4, "RandomGenerator.sum: the lanes of a 4-lane sum")
        var s = lanes.laneSums(values, SIMD4<Double>(repeating: 0)) { Double($0) }
        for k in lanes.tail { s[0] += Double(values[Int(k)]) }
        return (s[0] + s[1]) + (s[2] + s[3])
    }
}

extension Softmax {
    /// ``topProbability(_:n:maximum:)`` of the n-wide row that holds `logits[k]` at `ids[k]` and
    /// logits far below the maximum elsewhere (a trimmed draft head's −10³⁰, whose exponentials
    /// are exactly 0), from the K logits and their ``SubsetLanes`` (width 8): bitwise the full-row
    /// value. `scratch` (K floats, may be `logits`) receives `e^{logits[k] − m}`.
    public static func topProbability(_ logits: UnsafeMutablePointer<Float>, lanes: SubsetLanes, count K: Int, maximum m: Float,
                                      scratch: UnsafeMutablePointer<Float>) -> Float {
        precondition(lanes.width == 8 && K >= 1, "Softmax.topProbability: the lanes of an 8-lane sum and K ≥ 1")
        VectorMath.expScaled(out: scratch, input: logits, n: K, shift: m, scale: 1)   // (x − m)·1 is x − m exactly
        var total = lanes.laneSums(UnsafePointer(scratch), SIMD8<Float>(repeating: 0)) { $0 }.sum()
        for t in lanes.tail { total += scratch[Int(t)] }
        return 1 / total
    }
}
