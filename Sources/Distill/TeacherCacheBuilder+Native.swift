import Datasets
import Tensor
import Transformer

/// The teacher cache through native weights (a GGUF target held in its file types,
/// ``TransformerModel/native``).
///
/// Each example runs in an ``InferenceSession``: the prompt part before the first supervised
/// position is appended without logits (``InferenceSession/extend(_:)``), then the supervised
/// positions — a contiguous range (``PackedSequence/supervised``) — in appends of at most
/// ``TeacherCacheBuilder/appendRows`` rows, each returning its rows' logits. No padding is computed and the
/// quantised kernels read Q4/Q8 blocks instead of float32 matrices, which is why this path is the
/// faster one for GGUF targets on a CPU. Logits agree with the float32 path to the quantised
/// kernels' rounding (activations are quantised per row to 8 bits, as llama.cpp does), so top-K
/// sets agree except where two teacher probabilities nearly tie.
extension ShardRun {
    /// Appends example `i`'s rows (and its offset) to `rows`.
    func nativeExample(_ i: Int, into rows: inout ShardRows) throws {
        let b = builder, tokenizer = b.tokenizer, V = b.teacher.config.vocabSize
        let packed = PackedSequence(prompt: b.dataset.promptIDs(i, tokenizer: tokenizer),
                                    response: b.dataset.responseIDs(i, tokenizer: tokenizer), T: b.identity.context)
        let supervised = packed.supervised
        if !supervised.isEmpty {
            session.reset()
            if supervised.lowerBound > 0 { try session.extend(Array(packed.tokens[0..<supervised.lowerBound])) }
            var t = supervised.lowerBound
            while t < supervised.upperBound {
                let end = min(supervised.upperBound, t + max(1, b.appendRows))
                let logits = try session.append(Array(packed.tokens[t..<end]))
                rows.addTopK(logits: logits.pointer, rows: Array(0..<(end - t)), V: V,
                             temperature: b.identity.temperature, scratch: scratch)
                if rows.stateWidth > 0, let h = session.lastHiddenStates { rows.addStates(h.pointer, rows: Array(0..<(end - t))) }
                rows.positions.append(contentsOf: (t..<end).map(Int32.init))
                t = end
            }
            tokensDone += supervised.upperBound
        }
        rows.offsets.append(UInt64(rows.positions.count))
    }
}
