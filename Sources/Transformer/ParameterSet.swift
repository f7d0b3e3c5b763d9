import Tensor

/// One named parameter inside a flat buffer.
public struct ParameterInfo: Equatable, Sendable {
    /// The runtime's own name (architecture-independent, e.g. `layers.3.qkv.weight`).
    public var name: String
    /// Row-major shape; linear weights are (out, in) and are applied as `x · Wᵀ`.
    public var shape: [Int]
    /// First element inside the flat buffer.
    public var offset: Int
    /// AdamW applies weight decay to this parameter (matrices yes; norms and biases no).
    public var decay: Bool
    public var count: Int { shape.reduce(1, *) }
}

/// All parameters (or all gradients, or an optimizer moment) of a model in one allocation with
/// named views, so zeroing, clipping, the optimizer step and checkpointing are single loops.
public final class ParameterSet: @unchecked Sendable {
    /// The flat buffer, shape `[count]`.
    public let flat: Tensor
    public let infos: [ParameterInfo]
    private let index: [String: Int]

    /// Allocates a zeroed buffer for the layout `infos` (offsets must be consecutive from 0).
    /// - Parameter untouched: allocate the zeros as untouched anonymous pages
    ///   (``TensorStorage/init(untouchedZeros:)``): parameters never written take no memory.
    public init(layout infos: [ParameterInfo], untouched: Bool = false) {
        let total = infos.last.map { $0.offset + $0.count } ?? 0
        self.flat = untouched ? Tensor(storage: TensorStorage(untouchedZeros: total), offset: 0, shape: [total])
                              : Tensor(zeros: [total])
        self.infos = infos
        var idx: [String: Int] = [:]
        for (i, p) in infos.enumerated() { idx[p.name] = i }
        self.index = idx
    }

    /// A new zeroed set with the same layout.
    public func zerosLike() -> ParameterSet { ParameterSet(layout: infos) }

    /// Number of scalars.
    public var count: Int { flat.count }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func info(_ name: String) -> ParameterInfo? { index[name].map { infos[$0] } }

    /// The view of parameter `name` (precondition: it exists).
    public subscript(_ name: String) -> Tensor {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        let p = infos[i]
        return Tensor(storage: flat.storage, offset: flat.offset + p.offset, shape: p.shape)
    }

    /// Pointer to parameter `name`, or nil when the layout has no such parameter.
    public func pointer(_ name: String) -> UnsafeMutablePointer<Float>? {
        index[name].map { flat.pointer + infos[$0].offset }
    }

    /// Sets every element to zero.
    public func zero() { flat.fill(0) }

    /// Copies all values from a set with the same layout.
    public func copy(from other: ParameterSet) {
        precondition(other.infos == infos, "ParameterSet.copy: layouts differ")
        flat.pointer.update(from: other.flat.pointer, count: count)
    }
}
