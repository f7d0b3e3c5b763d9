import Tensor
import Transformer

/// The target's final-normed hidden states by position (``FeatureInput``'s f_s), written by a
/// ``FeatureRecordingModel`` as the target verifies and read by a ``FeatureDraftModel``.
///
/// Position s holds a state when the target's last append that covered s computed its logits
/// (prompt positions the target only prefilled hold none). Positions at or past ``length`` (the
/// target's cache length) are stale and never read.
public final class TargetFeatures {
    /// Cf, the target's hidden size.
    public let width: Int
    /// The target's cache length: states at positions below it are current.
    public internal(set) var length = 0
    private let states: UnsafeMutablePointer<Float>
    private var known: [Bool]

    public init(width: Int, capacity: Int) {
        self.width = width
        states = .allocate(capacity: max(1, width * capacity))
        states.initialize(repeating: 0, count: max(1, width * capacity))
        known = [Bool](repeating: false, count: capacity)
    }

    deinit { states.deallocate() }

    /// The state at position s, or nil when the target has none there (or s is outside 0..<length).
    func state(at s: Int) -> UnsafePointer<Float>? {
        guard s >= 0 && s < length && known[s] else { return nil }
        return UnsafePointer(states + s * width)
    }

    /// Records rows [start, start + n) from `hidden` (n, width), or marks them as unknown (nil).
    func record(start: Int, n: Int, hidden: Tensor?) {
        for i in 0..<n {
            let s = start + i
            guard s < known.count else { return }
            known[s] = hidden != nil
            if let h = hidden { (states + s * width).update(from: h.pointer + i * width, count: width) }
        }
    }
}

/// The target of a feature-reading draft: the target model, recording the hidden states of every
/// append into ``features`` (logits and cache exactly the target's, so verification is unchanged).
public final class FeatureRecordingModel: DecodingModel {
    public let base: any DecodingModel
    public let features: TargetFeatures

    /// - Precondition: `base` exposes its hidden states (``DecodingModel/lastHiddenStates``) of
    ///   width `features.width` after an append.
    public init(_ base: any DecodingModel, features: TargetFeatures) {
        self.base = base; self.features = features
        features.length = base.length
    }

    public var logitWidth: Int { base.logitWidth }
    public var length: Int { base.length }
    public var capacity: Int { base.capacity }
    public var batchInvariantRows: Int { base.batchInvariantRows }
    public var weightBytesPerStep: Int { base.weightBytesPerStep }
    public var lastHiddenStates: Tensor? { base.lastHiddenStates }

    public func append(_ tokens: [Int]) throws -> Tensor {
        let start = base.length
        let logits = try base.append(tokens)
        features.record(start: start, n: tokens.count, hidden: base.lastHiddenStates)
        features.length = base.length
        return logits
    }

    public func extend(_ tokens: [Int]) throws {
        let start = base.length
        try base.extend(tokens)
        features.record(start: start, n: tokens.count, hidden: nil)
        features.length = base.length
    }

    public func truncate(to n: Int) {
        base.truncate(to: n)
        features.length = n
    }
}

/// A draft that reads the target's hidden states (a model with `feature_proj.weight`,
/// ``FeatureInput``): each token it reads at position q gets the newest recorded target state
/// before q — position s = min(q − 1, L − 1) for a target of cache length L — with staleness
/// d = min(q − s, D), or no feature where the target holds no state at s. That is the rule the
/// training batches follow (``FeatureStaleness``), so the draft sees at decode time what it saw
/// while distilling.
public final class FeatureDraftModel: DecodingModel {
    public let session: InferenceSession
    public let features: TargetFeatures
    private var rows: [Float] = []
    /// The staleness of each token of the last append or extend (0: no feature).
    public private(set) var staleness: [Int32] = []

    /// - Throws: when the draft has no feature input or its feature width is not the target's.
    public init(_ session: InferenceSession, features: TargetFeatures) throws {
        let c = session.model.config
        guard c.featureStaleness > 0 else { throw ModelError.shape("the draft has no feature input (feature_proj.weight)") }
        guard c.featureWidth == features.width else {
            throw ModelError.shape("the draft reads target states of width \(c.featureWidth), the target's hidden size is \(features.width): distil the draft against this target")
        }
        self.session = session; self.features = features
    }

    public var logitWidth: Int { session.logitWidth }
    public var length: Int { session.length }
    public var capacity: Int { session.capacity }
    public var batchInvariantRows: Int { session.batchInvariantRows }
    /// The draft's weights plus one W_d (C × Cf floats) a position.
    public var weightBytesPerStep: Int {
        let c = session.model.config
        return session.weightBytesPerStep + 4 * c.hiddenSize * c.featureWidth
    }
    public var lastHiddenStates: Tensor? { session.lastHiddenStates }
    public var outputIDs: [Int32]? { session.outputIDs }

    /// Fills the feature rows and staleness of `n` tokens at the session's next positions; false
    /// when none of them has a feature.
    private func prepare(_ n: Int) -> Bool {
        let Cf = features.width, D = session.model.config.featureStaleness
        if rows.count < n * Cf { rows = [Float](repeating: 0, count: n * Cf) }
        staleness.removeAll(keepingCapacity: true)
        staleness.append(contentsOf: repeatElement(0, count: n))
        var any = false
        for i in 0..<n {
            let q = session.length + i, s = min(q - 1, features.length - 1)
            guard let f = features.state(at: s) else { continue }
            rows.withUnsafeMutableBufferPointer { $0.baseAddress!.advanced(by: i * Cf).update(from: f, count: Cf) }
            staleness[i] = Int32(min(q - s, D)); any = true
        }
        return any
    }

    private func appendPrepared(_ tokens: [Int]) throws -> Tensor {
        try rows.withUnsafeBufferPointer { try session.append(tokens, features: $0.baseAddress!, staleness: staleness) }
    }

    public func append(_ tokens: [Int]) throws -> Tensor {
        prepare(tokens.count) ? try appendPrepared(tokens) : try session.append(tokens)
    }

    public func extend(_ tokens: [Int]) throws {
        if prepare(tokens.count) { _ = try appendPrepared(tokens) } else { try session.extend(tokens) }
    }

    public func truncate(to n: Int) { session.truncate(to: n) }
}

/// The target and draft as a speculative decoder drives them.
public enum SpeculativePair {
    /// A draft that reads the target's hidden states (`feature_proj.weight`) becomes a
    /// ``FeatureDraftModel`` over a ``FeatureRecordingModel`` of the target, sharing one
    /// ``TargetFeatures``; any other pair is returned unchanged. Verification is the target's own,
    /// so the decoding stays exactly as lossless as with any draft.
    /// - Throws: when the draft's feature width is not the target's hidden size.
    public static func make(target: InferenceSession, draft: InferenceSession?) throws
        -> (target: any DecodingModel, draft: (any DecodingModel)?) {
        guard let draft, draft.model.config.featureStaleness > 0 else { return (target, draft) }
        let features = TargetFeatures(width: target.model.config.hiddenSize, capacity: target.capacity)
        return (FeatureRecordingModel(target, features: features), try FeatureDraftModel(draft, features: features))
    }
}
