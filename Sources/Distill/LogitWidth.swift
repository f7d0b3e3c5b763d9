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
