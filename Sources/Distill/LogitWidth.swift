import Tensor

/// Models of one tokenizer often pad their logit width past the tokenizer's size (V rounded up to
/// a multiple of 64 or 128). The padding ids are never real tokens, so when a teacher and a
/// student differ only in padding, the teacher's logits are re-laid to the student's width:
/// common columns copied, teacher padding dropped, student padding filled with −∞ (teacher
/// probability 0 there, so the divergences push the student's padding mass to zero).
public enum LogitWidth {
    /// Copies `rows` rows of width `fromWidth` into rows of width `toWidth`.
    public static func adapt(_ source: UnsafePointer<Float>, fromWidth: Int, into destination: UnsafeMutablePointer<Float>,
                             toWidth: Int, rows: Int) {
        let common = min(fromWidth, toWidth)
        parallelFor(rows, minChunk: 16) { range in
            for r in range {
                let d = destination + r * toWidth
                d.update(from: source + r * fromWidth, count: common)
                if toWidth > common { (d + common).update(repeating: -.infinity, count: toWidth - common) }
            }
        }
    }
}

extension LogitWidth {
    /// The teacher's logits at the columns `ids` of each row: `destination[r, j] = source[r, ids[j]]`
    /// for rows with `targets[r] >= 0` (other rows are left as they are).
    ///
    /// This is how a draft with a trimmed output layer (kept tokens S = ids) is distilled from a
    /// full-vocabulary teacher: softmax over the gathered logits is the teacher's distribution
    /// conditioned on S, `p(x | S) = p(x) / p(S)` for x ∈ S — the best a draft that can only propose
    /// tokens of S can match (its acceptance Σ_x min(p(x), q(x)) is at most p(S), reached by any
    /// q ≥ p on S, in particular by p(· | S)); and every divergence on the gathered logits is a
    /// divergence between two distributions on S, so the objectives apply unchanged.
    public static func gatherColumns(_ source: UnsafePointer<Float>, width: Int, ids: [Int32],
                                     into destination: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, rows: Int) {
        let K = ids.count
        ids.withUnsafeBufferPointer { idp in
            let id = idp.baseAddress!
            parallelFor(rows, minChunk: 8) { range in
                for r in range where targets[r] >= 0 {
                    let s = source + r * width, d = destination + r * K
                    for j in 0..<K { d[j] = s[Int(id[j])] }
                }
            }
        }
    }
}
