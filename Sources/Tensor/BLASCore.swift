import CBLAS
import CKernels
import Foundation

/// Which OpenBLAS kernels this process runs, and the ones it should run.
///
/// OpenBLAS built with DYNAMIC_ARCH picks its kernels from the CPU model when it loads. A release
/// that predates the CPU falls back to its oldest x86-64 kernels: Debian's 0.3.21 on a Sapphire
/// Rapids–class Xeon (AVX-512) chooses "Prescott" (SSE3) and runs sgemm at 62 GFLOP/s on 2
/// threads, against 315 GFLOP/s with its SkylakeX kernels on the same shapes (3072 × 3072 × 576).
/// The choice can only be changed before the library loads, through `OPENBLAS_CORETYPE`; the
/// command-line tool therefore restarts itself once with ``recommendedCoreType`` set
/// (``restartArgumentsForBestKernels()``). Results stay correct either way; only speed changes.
public enum BLASCore {
    /// OpenBLAS's name for the kernels it chose ("Haswell", "SkylakeX", "Zen", "Prescott", …).
    public static var current: String { String(cString: openblas_get_corename()) }

    /// Kernel sets that use AVX-512 (F, CD, BW, DQ, VL) or AVX2 + FMA, in OpenBLAS's names.
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]
    static let avx2Cores: Set<String> = avx512Cores.union(["haswell", "zen"])

    /// The `OPENBLAS_CORETYPE` that gives this CPU the kernels its instruction set allows, or nil
    /// when OpenBLAS already chose such kernels (or the CPU has neither AVX-512 nor AVX2).
    public static var recommendedCoreType: String? {
        recommendedCoreType(current: current, avx512: sd_cpu_has_avx512_core() != 0, avx2: sd_cpu_has_avx2_fma() != 0)
    }

    /// The rule of ``recommendedCoreType`` for a chosen kernel set `current` on a CPU with or
    /// without AVX-512 (F, CD, BW, DQ, VL) and AVX2 + FMA.
    public static func recommendedCoreType(current: String, avx512: Bool, avx2: Bool) -> String? {
        let name = current.lowercased()
        if avx512 { return avx512Cores.contains(name) ? nil : "SkylakeX" }
        if avx2 { return avx2Cores.contains(name) ? nil : "Haswell" }
        return nil
    }

    /// When the user's `OPENBLAS_CORETYPE` holds OpenBLAS on weaker kernels than this CPU allows
    /// (an environment that exports `OPENBLAS_CORETYPE=Haswell` on an AVX-512 machine, say): one
    /// line saying so and how to get the faster ones. The setting is kept (the user may want it);
    /// nil when the variable is unset or OpenBLAS already runs the kernels the CPU allows.
    public static var weakerKernelsNote: String? {
        guard let setting = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
              let better = recommendedCoreType else { return nil }
        return weakerKernelsNote(setting: setting, current: current, better: better)
    }

    /// The line of ``weakerKernelsNote`` for the user's `setting`, the kernels OpenBLAS runs and
    /// the ones this CPU allows.
    public static func weakerKernelsNote(setting: String, current: String, better: String) -> String {
        "note: OPENBLAS_CORETYPE=\(setting) keeps OpenBLAS on its \(current) kernels; this CPU allows "
            + "\(better) (faster sgemm): unset OPENBLAS_CORETYPE or set it to \(better)"
    }

    /// When OpenBLAS fell back to weaker kernels than this CPU allows and the user did not set
    /// `OPENBLAS_CORETYPE`: the environment assignment to restart the process with. Nil otherwise
    /// (including in the restarted process, which has the variable set).
    public static func restartArgumentsForBestKernels() -> (name: String, value: String)? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let core = recommendedCoreType else { return nil }
        return ("OPENBLAS_CORETYPE", core)
    }
}
