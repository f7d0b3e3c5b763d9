import ArgumentParser
import SpecDistill

/// `train --method`: a DistillSpec divergence (fkl, rkl, jsd, tvd), AdaSPEC or PCL.
enum TrainingMethod: String, ExpressibleByArgument, CaseIterable {
    case fkl, rkl, jsd, tvd, adaspec, pcl

    /// The divergence of fkl, rkl, jsd and tvd; nil for adaspec and pcl, or jsd with a beta outside [0, 1].
    func divergence(beta: Float) -> Divergence? { Divergence(name: rawValue, beta: beta) }
}

/// `train --normalization`, spelled with hyphens on the command line.
enum NormalizationChoice: String, ExpressibleByArgument, CaseIterable {
    case perSequence = "per-sequence", perToken = "per-token"

    var value: LossNormalization { self == .perToken ? .perToken : .perSequence }
}

extension DataSourceKind: ExpressibleByArgument {}
