import Foundation
import Tensor
import Tokenizers
import Transformer

/// Off-policy demonstrations of PCL (algorithms.md §5.3); the consistency holds along any path.
public enum PCLDemonstration: String, Codable, CaseIterable, Sendable {
    /// The dataset's responses.
    case dataset
    /// Responses sampled from the teacher (once per prompt and budget, then reused).
    case teacher
    /// Past on-policy student paths from the replay buffer.
    case replay
}

/// One packed PCL batch, (B, T) row-major. `tokens` are the model inputs, `textTargets` the next
/// text token on path rows (for the rewards), `actions` the action taken there (−1 off the path).
public struct PCLBatch: Sendable {
    public var B: Int, T: Int
    public var tokens: [Int32]
    public var textTargets: [Int32]
    public var actions: [Int32]
    /// (B) see ``PCLInput/bootstrap``.
    public var bootstrap: [Bool]
    /// (B) index into the budget set of each sequence's prompt (−1 without budgets).
    public var budgetIndex: [Int]
    /// Where the paths came from (`student` for fresh on-policy rollouts).
    public var kind: String
    /// Per budget index: (help actions, actions) of the paths, for dual ascent.
    public var helpCounts: [Int: (help: Int, actions: Int)]

    /// An empty batch: padding `pad`, no paths.
    public init(B: Int, T: Int, pad: Int = 0, kind: String) {
        self.B = B; self.T = T
        tokens = [Int32](repeating: Int32(pad), count: B * T)
        textTargets = [Int32](repeating: -1, count: B * T); actions = [Int32](repeating: -1, count: B * T)
        bootstrap = [Bool](repeating: false, count: B); budgetIndex = [Int](repeating: -1, count: B)
        self.kind = kind; helpCounts = [:]
    }
}

/// A replayed path with what is needed to re-pack it.
public struct ReplayEntry: Codable, Equatable, Sendable {
    public var example: Int
    public var budgetIndex: Int
    public var path: HelpPath
}

/// Batches for PCL distillation: with probability `lambdaOn` fresh on-policy rollouts of the
/// student (stored in a replay buffer of `replaySize` paths, oldest dropped first), otherwise one
/// of the off-policy kinds, chosen uniformly among those available. Each example's budget is drawn
/// from the budget set and written into its prompt. All randomness comes from the trainer's
/// generator; the replay buffer is saved in checkpoints, so a resumed run sees the same batches.
public final class PCLSource {
    public let dataset: PromptDataset
    public let tokenizer: Tokenizer
    public let lambdaOn: Double
    public let offPolicy: [PCLDemonstration]
    public let replaySize: Int
    /// The budget set (empty: prompts carry no budget text).
    public let budgets: [Double]
    public let stopTokens: Set<Int>
    let rollout: HelpRollout
    let teacherSampler: ResponseSampler?
    public internal(set) var replay: [ReplayEntry] = []
    private var promptCache: [Int: [Int]] = [:], teacherCache: [Int: [Int]] = [:]
    private let pad: Int
    /// Seed of the per-example generators for teacher samples (as ``DistillationSource``).
    public var teacherSeed: UInt64 = 0x7EAC4E2

    public init(dataset: PromptDataset, tokenizer: Tokenizer, rollout: HelpRollout, teacherSampler: ResponseSampler?,
                lambdaOn: Double, offPolicy: [PCLDemonstration], replaySize: Int, budgets: [Double], stopTokens: Set<Int>) throws {
        guard lambdaOn >= 0 && lambdaOn <= 1 else { throw DistillError.settings("--lambda-on must be in [0, 1], got \(lambdaOn)") }
        guard replaySize >= 0 else { throw DistillError.settings("--replay-size must be ≥ 0, got \(replaySize)") }
        if lambdaOn < 1 && offPolicy.isEmpty {
            throw DistillError.settings("--lambda-on \(lambdaOn) < 1 needs off-policy demonstrations (dataset, teacher or replay)")
        }
        if offPolicy.contains(.dataset), let i = dataset.examples.firstIndex(where: { $0.response == nil }) {
            throw DistillError.data("example \(i + 1) has no response; dataset demonstrations need responses (drop 'dataset' from --off-policy)")
        }
        if offPolicy.contains(.teacher) && teacherSampler == nil { throw DistillError.settings("teacher demonstrations need a teacher sampler") }
        if offPolicy.contains(.replay) && replaySize == 0 { throw DistillError.settings("replay demonstrations need --replay-size > 0") }
        if budgets.count > 62 { throw DistillError.settings("at most 62 help budgets, got \(budgets.count)") }
        self.dataset = dataset; self.tokenizer = tokenizer; self.rollout = rollout; self.teacherSampler = teacherSampler
        self.lambdaOn = lambdaOn; self.offPolicy = offPolicy; self.replaySize = replaySize; self.budgets = budgets
        self.stopTokens = stopTokens
        pad = tokenizer.padTokenID ?? tokenizer.eosTokenID ?? 0
    }

    /// Prompt ids of example i at budget index k (the budget line before the user's text).
    public func promptIDs(_ i: Int, budgetIndex k: Int) -> [Int] {
        let key = i * 64 + (k + 1)
        if let p = promptCache[key] { return p }
        var text = dataset.examples[i].prompt
        if k >= 0 { text = HelpBudget.prompt(text, budget: budgets[k]) }
        let p = tokenizer.encode(dataset.template.render(text), addSpecialTokens: true)
        promptCache[key] = p
        return p
    }

    /// Restores the replay buffer (from a checkpoint).
    public func restore(replay entries: [ReplayEntry]) { replay = entries }

    public func nextBatch(B: Int, T: Int, rng: inout RandomGenerator) throws -> PCLBatch {
        let onPolicy = lambdaOn >= 1 || rng.uniformDouble() < lambdaOn
        var kind = "student"
        if !onPolicy {
            let available = offPolicy.filter { $0 != .replay || !replay.isEmpty }
            // Before the buffer holds anything, replay-only runs fall back to fresh rollouts.
            kind = available.isEmpty ? "student" : available[Int(rng.next() % UInt64(available.count))].rawValue
        }
        var batch = PCLBatch(B: B, T: T, pad: pad, kind: kind)
        let help = rollout.student.config.helpTokenID
        for b in 0..<B {
            var entry: ReplayEntry
            if kind == PCLDemonstration.replay.rawValue {
                entry = replay[Int(rng.next() % UInt64(replay.count))]
            } else {
                let i = Int(rng.next() % UInt64(dataset.examples.count))
                let k = budgets.isEmpty ? -1 : Int(rng.next() % UInt64(budgets.count))
                let prompt = promptIDs(i, budgetIndex: k)
                let path: HelpPath
                switch kind {
                case PCLDemonstration.dataset.rawValue:
                    path = HelpPath(tokens: dataset.responseIDs(i, tokenizer: tokenizer), stopTokens: stopTokens)
                case PCLDemonstration.teacher.rawValue:
                    let key = i * 64 + (k + 1)
                    if let r = teacherCache[key] { path = HelpPath(tokens: r, stopTokens: stopTokens) } else {
                        var own = RandomGenerator(seed: teacherSeed &+ UInt64(key) &* 0x9E37_79B9_7F4A_7C15)
                        let r = try teacherSampler!.sample(prompt: prompt, rng: &own)
                        teacherCache[key] = r
                        path = HelpPath(tokens: r, stopTokens: stopTokens)
                    }
                default:
                    path = try rollout.sample(prompt: prompt, rng: &rng)
                }
                entry = ReplayEntry(example: i, budgetIndex: k, path: path)
                if kind == "student" && replaySize > 0 {
                    replay.append(entry)
                    if replay.count > replaySize { replay.removeFirst(replay.count - replaySize) }
                }
            }
            let used = packPath(prompt: promptIDs(entry.example, budgetIndex: entry.budgetIndex), path: entry.path, row: b, batch: &batch)
            batch.budgetIndex[b] = entry.budgetIndex
            if entry.budgetIndex >= 0 {
                let h = entry.path.actions.prefix(used).reduce(0) { $0 + ($1 == help ? 1 : 0) }
                let old = batch.helpCounts[entry.budgetIndex] ?? (0, 0)
                batch.helpCounts[entry.budgetIndex] = (old.help + h, old.actions + used)
            }
        }
        return batch
    }
}

/// Writes row b of a PCL batch from prompt ids and a path; returns how many of the path's
/// actions fit. The prompt is left-truncated (keeping at least one token) so the path fits
/// T rows; row t reads `seq[t]` and, on the path, takes action `path.actions[t − (start − 1)]`
/// with text target `seq[t + 1]`. A path that does not fit, or that ended at the length limit,
/// is cut with one row to spare and bootstraps from the state in that row.
@discardableResult
public func packPath(prompt: [Int], path: HelpPath, row b: Int, batch: inout PCLBatch) -> Int {
    let T = batch.T
    precondition(!prompt.isEmpty, "packPath: empty prompt")
    let drop = max(0, min(prompt.count - 1, prompt.count + path.text.count - (T + 1)))
    let seq = Array(prompt[drop...]) + path.text
    let first = prompt.count - drop - 1           // row of the first action
    var end = first + path.text.count             // one past the last action row
    var bootstrap = !path.endedByStop
    if end > T - 1 && (bootstrap || end > T) {
        // Keep row `end` inside the sequence for the bootstrap state.
        end = T - 1
        bootstrap = true
    }
    let used = max(0, end - first)
    for t in 0..<T {
        batch.tokens[b * T + t] = t < seq.count ? Int32(seq[t]) : batch.tokens[b * T + t]
        if t >= first && t < end {
            batch.textTargets[b * T + t] = Int32(seq[t + 1])
            batch.actions[b * T + t] = Int32(path.actions[t - first])
        }
    }
    batch.bootstrap[b] = bootstrap && used > 0
    return used
}
