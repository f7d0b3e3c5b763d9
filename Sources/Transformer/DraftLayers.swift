import Foundation

/// Layer selections for drafts made of target layers (`--draft-from-target` of train, decode,
/// eval and bench distill; the draft itself is ``TransformerModel/truncatedCopy(layers:)``).
public enum DraftLayers {
    /// Layer indices of a specification:
    /// - `N` (a bare count) or `even:N`: N layers spread evenly over the target, first and last
    ///   included (``TransformerModel/evenlySpacedLayers(_:)``) — `train --draft-from-target N`'s meaning;
    /// - indices and ranges with at least one comma or dash, e.g. `0-3,29` or `5,`.
    /// - Throws: ``ModelError/shape(_:)`` for malformed specifications or indices outside
    ///   the model's `numLayers`.
    public static func parse(_ spec: String, of model: TransformerModel) throws -> [Int] {
        let L = model.config.numLayers
        let s = spec.trimmingCharacters(in: .whitespaces)
        let count = s.hasPrefix("even:") ? Int(s.dropFirst(5)) : Int(s)
        if let n = count {
            guard n >= 1 && n <= L else {
                throw ModelError.shape("draft-from-target \(spec): the target has \(L) layers; take 1 to \(L)")
            }
            return model.evenlySpacedLayers(n)
        }
        var layers: [Int] = []
        for part in s.split(separator: ",") {
            let ends = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard let a = ends.first ?? nil, ends.count <= 2, let b = ends.last ?? nil, a <= b, a >= 0, b < L else {
                throw ModelError.shape("draft-from-target \(spec): expected a layer count N, even:N, or indices and "
                                               + "ranges below \(L) such as 0-3,29")
            }
            layers += Array(a...b)
        }
        guard !layers.isEmpty else { throw ModelError.shape("draft-from-target \(spec): no layers") }
        return layers
    }
}
