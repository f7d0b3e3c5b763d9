import Cluster
import Foundation
import Tensor
import Transformer

/// Data parallelism (``Trainer/communicator`` of N ranks, e.g. `mpirun -np N`).
///
/// An optimizer step consumes `gradAccum` micro-batches of B sequences — the global batch — drawn
/// in one order from the trainer's RNG whatever N is: every rank draws all of them and computes
/// a contiguous slice, rank r the micro-batches [r·M/N, (r+1)·M/N) with M = gradAccum. Each
/// micro-batch's loss is scaled by 1/M as in one process, so after the all-reduce
///
///     g = Σ_ranks Σ_{j ∈ slice(r)} (1/M) ∇ℓ_j = (1/M) Σ_{j<M} ∇ℓ_j,
///
/// the gradient of one process accumulating all M micro-batches, up to float summation order
/// (one process adds micro-batch gradients sequentially inside the backward GEMMs, N ranks add
/// per-rank partial sums). Clipping and AdamW then run on identical gradients on every rank, so
/// the ranks' parameters stay equal without being sent again.
extension Trainer {
    /// The micro-batch indices (of 0..<gradAccum) this rank computes.
    public var localMicroBatches: Range<Int> {
        let perRank = settings.gradAccum / communicator.size
        return communicator.rank * perRank ..< (communicator.rank + 1) * perRank
    }

    /// Sums the ranks' gradients (in place, every rank gets the sum), their loss sums and token
    /// counts; records the time taken in ``lastReductionSeconds``. No-op for one process.
    func reduceGradients(lossSum: inout Double, tokens: inout Int) throws {
        guard communicator.size > 1 else { return }
        let t0 = Date()
        try communicator.allReduceSum(model.gradients.flat.pointer, count: model.gradients.count)
        var totals = [lossSum, Double(tokens)]
        try communicator.allReduceSum(&totals)
        lossSum = totals[0]
        tokens = Int(totals[1].rounded())
        lastReductionSeconds = Date().timeIntervalSince(t0)
    }

    /// Before the first step of ``run(source:evaluate:)``: checks that every rank starts at the
    /// same step (each read the same checkpoint, or none), then copies rank 0's parameters, AdamW
    /// moments and RNG to the others, so the ranks start identical even if their initialisations
    /// differed (as PyTorch's DDP broadcasts rank 0's state at construction).
    /// - Throws: ``DistillError/checkpoint(_:)`` on every rank when the ranks' steps differ.
    func synchronizeRanks() throws {
        guard communicator.size > 1 else { return }
        var bounds = [Double(step), -Double(step)]
        try communicator.allReduceMax(&bounds)
        guard bounds[0] == -bounds[1] else {
            throw DistillError.checkpoint("the ranks start at different steps (\(Int(-bounds[1]))…\(Int(bounds[0]))): every rank must read the same checkpoint — put --out on a file system all hosts share, at the same path")
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
