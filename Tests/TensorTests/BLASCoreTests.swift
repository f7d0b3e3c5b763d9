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

    /// In this process (Scripts/test sets OPENBLAS_CORETYPE from the CPU's flags when unset) OpenBLAS
    /// runs kernels the CPU's instruction set allows, so the CLI would not restart.
    func testThisProcessRunsTheKernelsTheCPUAllows() throws {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("Scripts/test sets OPENBLAS_CORETYPE; run the tests through it") }
            throw XCTSkip("OPENBLAS_CORETYPE not set (run through Scripts/test)")
        }
        XCTAssertNil(BLASCore.recommendedCoreType, "OpenBLAS chose \(BLASCore.current)")
    }
}
