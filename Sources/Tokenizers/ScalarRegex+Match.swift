extension ScalarRegex {
    /// One instruction of a compiled program (a backtracking machine in the style of Pike's and
    /// Thompson's: `split` tries its first target and remembers the second).
    enum Op: Sendable {
        /// Consume one scalar of the set.
        case set(ScalarSet)
        /// Continue at `first`; on failure, at `second`.
        case split(Int, Int)
        case jump(Int)
        /// Run program `k` at the current position without consuming; succeed when it matches
        /// (or, `negative`, when it does not).
        case lookahead(Int, negative: Bool)
        case lineStart, lineEnd
        case match
    }

    /// Builds the programs of a parsed pattern.
    struct Compiler {
        var programs: [[Op]] = []

        /// Compiles `node` into a new program ending in `match`; returns its index.
        mutating func program(for node: Node) throws -> Int {
            let k = programs.count
            programs.append([])
            var ops: [Op] = []
            try emit(node, into: &ops)
            ops.append(.match)
            programs[k] = ops
            return k
        }

        mutating func emit(_ node: Node, into ops: inout [Op]) throws {
            switch node {
            case .set(let s):
                ops.append(.set(s))
            case .concat(let items):
                for n in items { try emit(n, into: &ops) }
            case .alternation(let branches):
                // split(b0, next); b0; jump end; next: split(b1, …) …; last branch; end.
                var jumps: [Int] = []
                for (k, b) in branches.enumerated() {
                    if k < branches.count - 1 {
                        let split = ops.count
                        ops.append(.split(split + 1, -1))
                        try emit(b, into: &ops)
                        jumps.append(ops.count)
                        ops.append(.jump(-1))
                        ops[split] = .split(split + 1, ops.count)
                    } else {
                        try emit(b, into: &ops)
                    }
                }
                for j in jumps { ops[j] = .jump(ops.count) }
            case .repetition(let body, let min, let max, let greedy):
                guard min <= 1000, (max ?? min) <= 1000 else {
                    throw Unsupported(description: "repetition count above 1000")
                }
                for _ in 0..<min { try emit(body, into: &ops) }
                if let max {
                    // Each optional copy: split(body, end-of-all); copies nest.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(ops.count)
                        ops.append(.split(-1, -1))
                        try emit(body, into: &ops)
                    }
                    for s in splits { ops[s] = greedy ? .split(s + 1, ops.count) : .split(ops.count, s + 1) }
                } else {
                    guard !Self.canBeEmpty(body) else {
                        throw Unsupported(description: "unbounded repetition of a pattern that can match nothing")
                    }
                    let loop = ops.count
                    ops.append(.split(-1, -1))
                    try emit(body, into: &ops)
                    ops.append(.jump(loop))
                    ops[loop] = greedy ? .split(loop + 1, ops.count) : .split(ops.count, loop + 1)
                }
            case .lookahead(let body, let negative):
                let k = try program(for: body)
                ops.append(.lookahead(k, negative: negative))
            case .lineStart:
                ops.append(.lineStart)
            case .lineEnd:
                ops.append(.lineEnd)
            }
        }

        static func canBeEmpty(_ node: Node) -> Bool {
            switch node {
            case .set: return false
            case .concat(let items): return items.allSatisfy(canBeEmpty)
            case .alternation(let branches): return branches.contains(where: canBeEmpty)
            case .repetition(let body, let min, _, _): return min == 0 || canBeEmpty(body)
            case .lookahead, .lineStart, .lineEnd: return true
            }
        }
    }

    /// The matches in `s` as `find_iter` returns them: leftmost-first, non-overlapping, searching
    /// on after each match (one scalar on after an empty one, which is not returned).
    public func matches(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var stack: [(pc: Int, pos: Int)] = []   // one backtracking stack for the whole scan
        var i = 0
        while i < s.count {
            if let end = matchEnd(s, at: i, program: 0, stack: &stack), end > i {
                out.append(i..<end)
                i = end
            } else {
                i += 1
            }
        }
        return out
    }

    /// The end of the match of program `k` that starts at `start`, nil when there is none. Uses
    /// `stack` above its current height and leaves it at that height.
    func matchEnd(_ s: [Unicode.Scalar], at start: Int, program k: Int, stack: inout [(pc: Int, pos: Int)]) -> Int? {
        let ops = programs[k]
        let base = stack.count
        var pc = 0, pos = start
        while true {
            var ok = true
            switch ops[pc] {
            case .set(let set):
                if pos < s.count && set.contains(s[pos]) { pos += 1; pc += 1 } else { ok = false }
            case .split(let a, let b):
                stack.append((b, pos))
                pc = a
            case .jump(let a):
                pc = a
            case .lookahead(let body, let negative):
                let found = matchEnd(s, at: pos, program: body, stack: &stack) != nil
                if found != negative { pc += 1 } else { ok = false }
            case .lineStart:
                if pos == 0 || s[pos - 1] == "\n" { pc += 1 } else { ok = false }
            case .lineEnd:
                if pos == s.count || s[pos] == "\n" { pc += 1 } else { ok = false }
            case .match:
                stack.removeSubrange(base...)
                return pos
            }
            if !ok {
                guard stack.count > base else { return nil }
                (pc, pos) = stack.removeLast()
            }
        }
    }
}
