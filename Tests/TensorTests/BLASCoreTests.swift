import Tensor
import XCTest

/// The rule that restarts the CLI with OPENBLAS_CORETYPE when OpenBLAS fell back to kernels weaker
/// than the CPU allows (BLASCore), on the names OpenBLAS 0.3.x reports.
final class BLASCoreTests: XCTestCase {
    func testFallbackKernelsAreReplacedByTheOnesTheCPUAllows() {
        // Debian's 0.3.21 on a Sapphire Rapids–class Xeon: Prescott (SSE3) → SkylakeX.
        XCTAssertEqual(BLASCore.recommendedCoreType(current: "Prescott", avx512: true, avx2: true), "SkylakeX")
        XCTAssertEqual(BLASCore.recommendedCoreType(current: "Haswell", avx512: true, avx2: true), "SkylakeX")
        XCTAssertEqual(BLASCore.recommendedCoreType(current: "Sandybridge", avx512: false, avx2: true), "Haswell")
        XCTAssertEqual(BLASCore.recommendedCoreType(current: "Prescott", avx512: false, avx2: true), "Haswell")
    }

    func testRecognisedKernelsAreKept() {
        for name in ["SkylakeX", "Cooperlake", "SapphireRapids"] {
            XCTAssertNil(BLASCore.recommendedCoreType(current: name, avx512: true, avx2: true), name)
        }
        XCTAssertNil(BLASCore.recommendedCoreType(current: "Zen", avx512: false, avx2: true), "Zen 3 runs OpenBLAS's Zen (Haswell) kernels")
        XCTAssertNil(BLASCore.recommendedCoreType(current: "Haswell", avx512: false, avx2: true))
        XCTAssertNil(BLASCore.recommendedCoreType(current: "Prescott", avx512: false, avx2: false), "an SSE-only CPU keeps what it has")
    }

    /// In this process OpenBLAS runs the kernels it was told to: the ones the CPU's instruction set
    /// allows when Scripts/test chose them from the CPU's flags (it marks that with
    /// SPECDISTILL_CORETYPE_FROM_FLAGS), else the user's own OPENBLAS_CORETYPE — which the CLI keeps,
    /// with a note when it is weaker than the CPU allows (a machine image exporting
    /// OPENBLAS_CORETYPE=Haswell on an AVX-512 Zen 5 was seen).
    func testThisProcessRunsTheKernelsItWasToldTo() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let setting = environment["OPENBLAS_CORETYPE"] else {
            if environment["CI"] == "true" { XCTFail("Scripts/test sets OPENBLAS_CORETYPE; run the tests through it") }
            throw XCTSkip("OPENBLAS_CORETYPE not set (run through Scripts/test)")
        }
        XCTAssertNil(BLASCore.restartArgumentsForBestKernels(), "the CLI never overrides a set OPENBLAS_CORETYPE")
        if environment["SPECDISTILL_CORETYPE_FROM_FLAGS"] == "1" {
            XCTAssertNil(BLASCore.recommendedCoreType, "OpenBLAS chose \(BLASCore.current)")
            XCTAssertNil(BLASCore.weakerKernelsNote)
        } else {
            XCTAssertEqual(BLASCore.current.lowercased(), setting.lowercased(), "OpenBLAS ignored OPENBLAS_CORETYPE=\(setting)")
            XCTAssertEqual(BLASCore.weakerKernelsNote != nil, BLASCore.recommendedCoreType != nil)
        }
    }

    func testTheNoteNamesTheSettingTheKernelsAndTheFix() {
        let note = BLASCore.weakerKernelsNote(setting: "Haswell", current: "Haswell", better: "SkylakeX")
        XCTAssertTrue(note.hasPrefix("note: OPENBLAS_CORETYPE=Haswell keeps OpenBLAS on its Haswell kernels"), note)
        XCTAssertTrue(note.contains("unset OPENBLAS_CORETYPE or set it to SkylakeX"), note)
    }
}
