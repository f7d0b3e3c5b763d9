import CKernels
import Foundation

extension NativeWeights {
    private static let residentLock = NSLock()
    nonisolated(unsafe) private static var resident = 0

    /// Bytes per decoded token of all the native weights this process holds (every
    /// ``NativeWeights``' ``streamedBytes``: a target and its draft count together).
    public static var residentBytes: Int {
        residentLock.lock()
        defer { residentLock.unlock() }
        return resident
    }

    /// Adds `delta` bytes to ``residentBytes`` (each ``NativeWeights`` adds its own when made and
    /// removes them when freed; other weights streamed per token may be counted too) and chooses
    /// where the quantised kernels' one-row passes prefetch (``sd_x8_set_prefetch_l2``): into L2
    /// only while the total exceeds the last-level cache (every token then streams the weights
    /// from memory, and L2 prefetches serve that faster), into L1 while it fits. Passes of
    /// several rows (verification, prefill) always prefetch into L1.
    public static func registerResident(_ delta: Int) {
        residentLock.lock()
        defer { residentLock.unlock() }
        resident += delta
        sd_x8_set_prefetch_l2(resident > lastLevelCacheBytes ? 1 : 0)
    }

    /// The last-level cache's size as Linux describes it (``sd_llc_bytes``: sysfs, else the C library).
    public static var lastLevelCacheBytes: Int { Int(sd_llc_bytes()) }

    /// Whether the quantised kernels' one-row passes prefetch into L2 only (see ``registerResident(_:)``;
    /// `SPECDISTILL_PREFETCH=l1|l2` overrides).
    public static var prefetchesIntoL2: Bool { sd_x8_prefetch_l2() != 0 }
}
