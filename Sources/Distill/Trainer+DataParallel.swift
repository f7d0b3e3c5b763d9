import Cluster
import Foundation
import Tensor
import Transformer

/// Data parallelism (``Trainer/communicator`` of N ranks, e.g. `mpirun -np N`).
///
/// An optimizer step consumes `gradAccum` = M micro-batches of B sequences — the global batch —
/// drawn in one order from the trainer's RNG whatever N is: every rank draws all of them and
/// computes a contiguous slice, rank r the micro-batches [r·M/N, (r+1)·M/N) (skipping the others'
/// with ``BatchSource/skipBatch(B:T:rng:)``). Each micro-batch's loss is scaled by 1/M as in one
/// process, so after the all-reduce every rank holds
///
///     g = Σ_r Σ_{j ∈ slice(r)} (1/M) ∇ℓ_j = (1/M) Σ_{j<M} ∇ℓ_j,
///
/// and clipping and AdamW run on identical gradients on every rank: the ranks' parameters stay
/// equal without being sent again.
///
/// **Summation order (bitwise reproducibility).** Each micro-batch's gradient is computed on its
/// own (from zero) and added to the step's sum in micro-batch order, ((g₀ + g₁) + g₂) + …, and
/// the ranks' sums are added in rank order (``Communicator/allReduceSum(_:count:)``). So one
/// process with M micro-batches and M ranks with one each make the same float additions: their
/// parameters are **bitwise equal** after any number of steps, and a run resumed with a different
/// N continues with the same losses when N ∈ {1, M}. For 1 < N < M the per-rank partial sums
/// group the additions differently, ((g₀ + g₁) + (g₂ + g₃)) for N = 2, M = 4: equal to rounding,
/// |Δg| ≤ (M − 1)·ε·Σ_j |g_j| elementwise (ε = 2⁻²⁴), and bitwise reproducible for that N.
extension Trainer {
    /// The micro-batch indices (of 0..<gradAccum) this rank computes.
    public var localMicroBatches: Range<Int> {
        let perRank = settings.gradAccum / communicator.size
        return communicator.rank * perRank ..< (communicator.rank + 1) * perRank
    }

    /// After micro-batch `j`'s backward pass (its gradient alone in ``TransformerModel/gradients``):
    /// adds it to the step's sum in micro-batch order; after the rank's last micro-batch the sum is
    /// back in `gradients`. Zeroes `gradients` for the next micro-batch. No work with one local
    /// micro-batch.
    func accumulateMicroBatch(_ j: Int, of local: Range<Int>) {
        guard local.count > 1, let sum = gradientSum else { return }
        let g = model.gradients.flat.pointer, s = sum.pointer, n = model.gradients.count
        if j == local.lowerBound {
            s.update(from: g, count: n)
        } else if j < local.upperBound - 1 {
            for i in 0..<n { s[i] += g[i] }
        } else {
            for i in 0..<n { g[i] = s[i] + g[i] }
            return
        }
        model.gradients.zero()
    }

    /// Sums the ranks' gradients (in place, every rank gets the sum), their loss sums and token
    /// counts. Records in ``lastReduction`` the seconds spent waiting for the slowest rank (a
    /// barrier first, so load imbalance is not counted as communication) and the seconds of the
    /// all-reduce itself. No-op for one process.
    func reduceGradients(lossSum: inout Double, tokens: inout Int) throws {
        guard communicator.size > 1 else { return }
        let t0 = Date()
        try communicator.barrier()
        let t1 = Date()
        try communicator.allReduceSum(model.gradients.flat.pointer, count: model.gradients.count)
        var totals = [lossSum, Double(tokens)]
        try communicator.allReduceSum(&totals)
        lossSum = totals[0]
        tokens = Int(totals[1].rounded())
        lastReduction = (wait: t1.timeIntervalSince(t0), allReduce: Date().timeIntervalSince(t1))
    }

    /// Before the first step of ``run(source:evaluate:)``: checks that every rank starts at the
    /// same step (each read the same checkpoint, or none), then copies rank 0's parameters, AdamW
    /// moments and RNG to the others, so the ranks start identical even if their initialisations
    /// differed (as PyTorch's DDP broadcasts rank 0's state at construction).
    /// - Throws: ``DistillError/checkpoint(_:)`` on every rank when the ranks' steps differ.
    func synchronizeRanks() throws {
        guard communicator.size > 1 else { return }
        let steps = try communicator.allGather([Double(step)])
        guard Set(steps).count == 1 else {
            throw DistillError.checkpoint("the ranks start at different steps (\(steps.map { String(Int($0)) }.joined(separator: ", ")) for ranks 0…\(steps.count - 1)): every rank must read the same checkpoint — put --out on a file system all hosts share, at the same path")
        }
        for set in [model.parameters, optimizer.m, optimizer.v] {
            try communicator.broadcast(set.flat.pointer, bytes: set.count * MemoryLayout<Float>.stride)
        }
        let state = try communicator.broadcast(RankState(rng: rng, optimizerSteps: optimizer.stepCount))
        restore(step: step, rng: state.rng)
        optimizer.restore(stepCount: state.optimizerSteps)
    }
}

/// What rank 0 sends the other ranks beside the tensors.
private struct RankState: Codable {
    var rng: RandomGenerator
    var optimizerSteps: Int
}
