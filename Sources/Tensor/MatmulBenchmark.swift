import CBLAS
import Foundation

/// Times the tensor module's matrix product against raw OpenBLAS called directly, in the same
/// run, on the same buffers (used by `specdistill bench tensor`).
public enum MatmulBenchmark {
    /// One benchmarked shape: `C (M×N) = A (M×K) · Wᵀ` with `W` stored N×K (a linear layer).
    public struct Shape: Sendable {
        public var m: Int, k: Int, n: Int
        public init(m: Int, k: Int, n: Int) { self.m = m; self.k = k; self.n = n }
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        /// Bytes touched once: A, W and C in float32.
        public var bytes: Double { 4 * (Double(m) * Double(k) + Double(k) * Double(n) + Double(m) * Double(n)) }
    }

    /// Median seconds of the tensor op and of the baselines for one shape.
    public struct Row: Sendable {
        public var shape: Shape
        public var tensorSeconds: Double
        /// Raw `cblas_sgemm` on the same operands.
        public var sgemmSeconds: Double
        /// Raw `cblas_sgemv` (only for M = 1).
        public var sgemvSeconds: Double?
        /// Which path the dispatcher took.
        public var path: String
        /// ``Matmul/smallRows`` (the decoding kernel, used for every M ≤ 16 by the inference
        /// session), for M ≤ ``Matmul/smallRowLimit``.
        public var rowKernelSeconds: Double?
        /// The baseline the ratio is taken against (sgemv for M = 1, else sgemm).
        public var baselineSeconds: Double { sgemvSeconds ?? sgemmSeconds }
        public var ratio: Double { baselineSeconds / tensorSeconds }
    }

    /// The shapes of issue 2: training products at M = B·T = 4096, squares, and the single- and
    /// few-row products of decoding.
    public static var standardShapes: [Shape] {
        var s: [Shape] = []
        for (k, n) in [(384, 1152), (384, 384), (1536, 384), (384, 1536), (384, 8192)] { s.append(Shape(m: 4096, k: k, n: n)) }
        s.append(Shape(m: 512, k: 512, n: 512))
        s.append(Shape(m: 1024, k: 1024, n: 1024))
        for m in [1, 5] { for k in [384, 576, 768] { for n in [384, 1536, 49152] { s.append(Shape(m: m, k: k, n: n)) } } }
        return s
    }

    /// Median wall time of `body` over `repetitions` runs after one warm-up, with the count per
    /// run raised so that one run lasts at least `minSeconds`.
    public static func medianSeconds(repetitions: Int = 7, minSeconds: Double = 0.02, _ body: () -> Void) -> Double {
        body()
        var inner = 1
        while true {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<inner { body() }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            if dt >= minSeconds || inner >= 1 << 20 { break }
            inner *= 2
        }
        var times: [Double] = []
        for _ in 0..<repetitions {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<inner { body() }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 / Double(inner))
        }
        times.sort()
        return times[times.count / 2]
    }

    /// Runs one shape: tensor op, raw sgemm, and raw sgemv when M = 1.
    public static func run(_ s: Shape, repetitions: Int = 7) -> Row {
        var rng = RandomGenerator(seed: 1)
        let a = Tensor(zeros: [s.m, s.k]), w = Tensor(zeros: [s.n, s.k]), c = Tensor(zeros: [s.m, s.n])
        rng.fillUniform(a, low: -1, high: 1)
        rng.fillUniform(w, low: -1, high: 1)
        let (m, n, k) = (s.m, s.n, s.k)
        let ap = a.pointer, wp = w.pointer, cp = c.pointer
        let tensor = medianSeconds(repetitions: repetitions) {
            Matmul.gemm(transA: false, transB: true, m: m, n: n, k: k, a: ap, lda: k, b: wp, ldb: k,
                        accumulate: false, c: cp, ldc: n)
        }
        let sgemm = medianSeconds(repetitions: repetitions) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, ap, Int32(k),
                        wp, Int32(k), 0, cp, Int32(n))
        }
        var sgemv: Double? = nil
        if m == 1 {
            sgemv = medianSeconds(repetitions: repetitions) {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, wp, Int32(k), ap, 1, 0, cp, 1)
            }
        }
        var rowKernel: Double? = nil
        if m <= Matmul.smallRowLimit {
            rowKernel = medianSeconds(repetitions: repetitions) {
                Matmul.smallRows(m: m, n: n, k: k, a: ap, lda: k, w: wp, ldw: k, accumulate: false, c: cp, ldc: n)
            }
        }
        let path = m == 1 ? "sgemv" : (m <= Matmul.smallRowLimit ? "small-M kernel" : "sgemm")
        return Row(shape: s, tensorSeconds: tensor, sgemmSeconds: sgemm, sgemvSeconds: sgemv, path: path,
                   rowKernelSeconds: rowKernel)
    }
}

extension MatmulBenchmark {
    /// Overhead in microseconds of one parallel job of `Threads.count` tasks that each busy-wait
    /// `taskMicroseconds` (``Threads/run(tasks:threads:_:)``, through the pool or through GCD):
    /// the job's wall time minus one task's, so it includes waking the helpers. Before each job
    /// the caller busy-waits `gapMicroseconds` (decoding does a few to a few tens of µs of norms
    /// and attention between its matrix products). Median of 7 runs of 1000 jobs.
    public static func dispatchMicroseconds(pool: Bool, gapMicroseconds: Double, taskMicroseconds: Double = 20) -> Double {
        let saved = Threads.usePool
        Threads.usePool = pool
        defer { Threads.usePool = saved }
        let tasks = max(2, Threads.count), count = 1000
        func spin(_ us: Double) {
            let ns = UInt64(us * 1e3)
            if ns == 0 { return }
            let t0 = DispatchTime.now().uptimeNanoseconds
            while DispatchTime.now().uptimeNanoseconds - t0 < ns {}
        }
        var times: [Double] = []
        for r in 0...7 {
            var total: UInt64 = 0
            for _ in 0..<count {
                spin(gapMicroseconds)
                let t0 = DispatchTime.now().uptimeNanoseconds
                Threads.run(tasks: tasks) { _ in spin(taskMicroseconds) }
                total += DispatchTime.now().uptimeNanoseconds - t0
            }
            if r > 0 { times.append(Double(total) * 1e-3 / Double(count) - taskMicroseconds) }
        }
        times.sort()
        return times[times.count / 2]
    }
}
