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

/// `train --pcl-steps`: the PCL window length d ≥ 1, or `whole` (each window runs to the end of the path).
enum PCLWindow: ExpressibleByArgument, Equatable {
    case whole
    case steps(Int)

    init?(argument: String) {
        if argument == "whole" { self = .whole; return }
        guard let d = Int(argument), d >= 1 else { return nil }
        self = .steps(d)
    }

    /// d, or nil for whole paths.
    var length: Int? { if case .steps(let d) = self { return d } else { return nil } }

    var defaultValueDescription: String { length.map(String.init) ?? "whole" }
}

extension DataSourceKind: ExpressibleByArgument {}
