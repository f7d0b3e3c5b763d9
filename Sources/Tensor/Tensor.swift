import Foundation

/// The memory behind one or more ``Tensor`` values: a 64-byte aligned block of `Float`s.
///
/// Storage is a class so that views (rows of a batch, a layer's slice of a KV cache, one named
/// parameter inside a flat buffer) alias the same memory. It either owns its memory or keeps
/// alive an `owner` object that does (for example a memory-mapped file).
public final class TensorStorage: @unchecked Sendable {
    /// First element.
    public let base: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int
    private let owned: Bool
    private let owner: AnyObject?
    /// Bytes mapped with mmap by ``init(untouchedZeros:)`` (0 when not mapped).
    private let mappedBytes: Int

    /// Allocates `count` zero-initialised elements.
    public init(count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        self.base = raw.assumingMemoryBound(to: Float.self)
        self.count = count
        self.owned = true
        self.owner = nil
        self.mappedBytes = 0
    }

    /// Allocates `count` zero elements as fresh anonymous pages that the OS maps on first touch:
    /// parts never written or read take no physical memory (a model whose big matrices stay in
    /// their GGUF type keeps its unused float32 parameter buffer this way). Falls back to
    /// ``init(count:)`` when mmap fails.
    public convenience init(untouchedZeros count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            self.init(count: count)
            return
        }
        self.init(mapped: p.assumingMemoryBound(to: Float.self), count: count, bytes: bytes)
    }

    private init(mapped base: UnsafeMutablePointer<Float>, count: Int, bytes: Int) {
        self.base = base
        self.count = count
        self.owned = false
        self.owner = nil
        self.mappedBytes = bytes
    }

    /// Wraps memory owned by `owner` (kept alive as long as this storage lives).
    public init(borrowing base: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject?) {
        self.base = base
        self.count = count
        self.owned = false
        self.owner = owner
        self.mappedBytes = 0
    }

    deinit {
        if owned { UnsafeMutableRawPointer(base).deallocate() }
        if mappedBytes > 0 { munmap(UnsafeMutableRawPointer(base), mappedBytes) }
    }
}

/// A float32 tensor: contiguous row-major elements, a shape, and a handle to its storage.
///
/// **Semantics.** `Tensor` is a struct holding a *reference* to its storage: copying a `Tensor`
/// copies the handle, not the numbers, and writes through any copy or view are visible through
/// all of them (like a NumPy array or a PyTorch tensor). This is deliberate: a transformer's
/// parameters are views into one flat buffer, a KV cache is written row by row through views,
/// and the hot loops must never trigger a hidden copy-on-write. Use ``copy()`` for an
/// independent copy.
///
/// Shapes use the dimension vocabulary of the project: `(B, T, C)` activations, `(V, C)`
/// embeddings, `(N, K)` linear weights (PyTorch layout, applied as `x · Wᵀ`).
public struct Tensor: @unchecked Sendable {
    /// The extents, outermost first. A scalar has shape `[]` and one element.
    public let shape: [Int]
    /// The storage the elements live in.
    public let storage: TensorStorage
    /// Index of this tensor's first element inside `storage`.
    public let offset: Int

    /// Number of elements (product of the shape).
    @inlinable public var count: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }
    /// Pointer to the first element. Valid while the tensor (or its storage) is alive.
    @inlinable public var pointer: UnsafeMutablePointer<Float> { storage.base + offset }

    /// A new zero-filled tensor.
    public init(zeros shape: [Int]) {
        Tensor.checkShape(shape)
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *))
        self.offset = 0
    }

    /// A new tensor filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        pointer.update(repeating: value, count: count)
    }

    /// A new tensor holding `values` (row-major). Throws when the count does not match the shape.
    public init(shape: [Int], values: [Float]) throws {
        Tensor.checkShape(shape)
        let n = shape.reduce(1, *)
        guard n == values.count else {
            throw TensorError.shapeMismatch("Tensor(shape: \(shape)) needs \(n) values, got \(values.count)")
        }
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: n) }
    }

    /// A view of `count` elements of `storage` starting at `offset`, with `shape`.
    public init(storage: TensorStorage, offset: Int, shape: [Int]) {
        Tensor.checkShape(shape)
        let n = shape.reduce(1, *)
        precondition(offset >= 0 && offset + n <= storage.count,
                     "Tensor view [\(offset), \(offset + n)) is outside a storage of \(storage.count) elements")
        self.shape = shape
        self.storage = storage
        self.offset = offset
    }

    private static func checkShape(_ shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative extent")
    }

    // MARK: Views

    /// Elements per index of the first dimension (the size of one "row" in the leading sense).
    @inlinable public var rowStride: Int { shape.isEmpty ? 1 : shape.dropFirst().reduce(1, *) }

    /// View of index `i` of the first dimension: shape `shape.dropFirst()`. Shares storage.
    public func row(_ i: Int) -> Tensor {
        precondition(!shape.isEmpty && i >= 0 && i < shape[0], "row \(i) out of range for shape \(shape)")
        return Tensor(storage: storage, offset: offset + i * rowStride, shape: Array(shape.dropFirst()))
    }

    /// View of indices `range` of the first dimension. Shares storage.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) out of range for shape \(shape)")
        var s = shape
        s[0] = range.count
        return Tensor(storage: storage, offset: offset + range.lowerBound * rowStride, shape: s)
    }

    /// The same elements with another shape of equal element count. Shares storage.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        let n = newShape.reduce(1, *)
        guard n == count else {
            throw TensorError.shapeMismatch("cannot reshape \(shape) (\(count) elements) to \(newShape) (\(n) elements)")
        }
        return Tensor(storage: storage, offset: offset, shape: newShape)
    }

    /// An independent copy with its own storage.
    public func copy() -> Tensor {
        let t = Tensor(zeros: shape)
        t.pointer.update(from: pointer, count: count)
        return t
    }

    /// Copies all elements of `source` (same element count) into this tensor.
    public func assign(_ source: Tensor) throws {
        guard source.count == count else {
            throw TensorError.shapeMismatch("assign: destination \(shape) and source \(source.shape) differ in size")
        }
        pointer.update(from: source.pointer, count: count)
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// The elements as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Element access by full index (bounds-checked; for tests and setup, not hot loops).
    public subscript(_ index: Int...) -> Float {
        get { pointer[flatIndex(index)] }
        nonmutating set { pointer[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var flat = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of range for shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }

    /// A buffer over the elements, for loops that should not pay bounds checks.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = array.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(head)\(count > 8 ? ", …" : "")])"
    }
}
