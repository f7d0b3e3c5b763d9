// The specdistill executable owns the command line only: argument parsing, validation and
// printing over the library (SpecDistill); no algorithm lives here.

import Foundation
import SpecDistill

/// The cost of appending k tokens in one ``InferenceSession/append(_:)`` (speculative
/// verification of gamma = k − 1 draft tokens) against appending one, for `bench decode`.
enum AppendBenchmark {
    /// Median and minimum seconds of `append(k tokens)` for each k in `ks`, at a cache length of
    /// `past` positions: the k values are interleaved within each repetition (so all see the same
    /// machine state) and the cache is truncated back to `past` before every append. On a loaded
    /// machine the minimum is the better estimate of the unloaded cost.
    static func appendSeconds(model: TransformerModel, ks: [Int], past: Int = 64, repetitions: Int = 15,
                              outputRows: Int? = nil) throws -> (median: [Double], minimum: [Double]) {
        let V = model.config.vocabSize
        let session = InferenceSession(model: model, maxT: past + (ks.max() ?? 1))
        if let outputRows { session.restrictOutput(to: Array(0..<outputRows)) }
        let context = (0..<past).map { ($0 * 7919 + 11) % V }
        _ = try session.append(context)
        let tokens = (0..<(ks.max() ?? 1)).map { ($0 * 104_729 + 5) % V }
        var times = Array(repeating: [Double](), count: ks.count)
        for r in 0...repetitions {
            for (i, k) in ks.enumerated() {
                session.truncate(to: past)
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try session.append(Array(tokens.prefix(k)))
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                if r > 0 { times[i].append(dt) }  // repetition 0 warms up
            }
        }
        return (times.map { t in t.sorted()[t.count / 2] }, times.map { $0.min()! })
    }

    /// Prints one line per model: append(k) milliseconds for k in `ks` and their ratio to the first k.
    static func printTable(_ rows: [(name: String, seconds: [Double])], ks: [Int], past: Int, statistic: String) {
        print("append k tokens at cache length \(past), \(statistic) ms (ratio to k = \(ks.first ?? 1)):")
        print(pad("model", 10) + ks.map { pad("k=\($0)", 16) }.joined())
        for row in rows {
            let base = row.seconds[0]
            print(pad(row.name, 10) + row.seconds.map { pad(String(format: "%.2f (%.2f)", $0 * 1e3, $0 / base), 16) }.joined())
        }
    }
}
