import Foundation

/// Plain-loop references of the attention kernels: every sum in Double, no blocking, no BLAS.
/// Same arguments and conventions as the fast versions.
extension Attention {
    /// Reference of ``forward(out:probs:q:k:v:stride:B:T:NH:NKV:HS:scale:)``.
    public static func forwardReference(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride: Int,
                                        B: Int, T: Int, NH: Int, NKV: Int, HS: Int, scale: Float) {
        checkDimensions(stride: stride, B: B, T: T, NH: NH, NKV: NKV, HS: HS)
        let group = NH / NKV, C = NH * HS
        var p = [Double](repeating: 0, count: T)
        for b in 0..<B {
            for h in 0..<NH {
                let g = h / group
                for t in 0..<T {
                    let qt = q + (b * T + t) * stride + h * HS
                    var top = -Double.infinity
                    for j in 0...t {
                        let kj = k + (b * T + j) * stride + g * HS
                        var s = 0.0
                        for d in 0..<HS { s += Double(qt[d]) * Double(kj[d]) }
                        p[j] = Double(scale) * s
                        top = max(top, p[j])
                    }
                    var sum = 0.0
                    for j in 0...t { p[j] = exp(p[j] - top); sum += p[j] }
                    let P = probs + ((b * NH + h) * T + t) * T
                    for j in 0..<T { P[j] = j <= t ? Float(p[j] / sum) : 0 }
                    for d in 0..<HS {
                        var o = 0.0
                        for j in 0...t { o += p[j] / sum * Double(v[(b * T + j) * stride + g * HS + d]) }
                        out[(b * T + t) * C + h * HS + d] = Float(o)
                    }
                }
            }
        }
    }

    /// Reference of ``backward(dQ:dK:dV:dOut:probs:q:k:v:stride:B:T:NH:NKV:HS:scale:)``: gradients are
    /// summed in Double over all heads and positions, then added to `dQ`, `dK`, `dV`.
    public static func backwardReference(dQ: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>,
                                         dOut: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                         q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride: Int,
                                         B: Int, T: Int, NH: Int, NKV: Int, HS: Int, scale: Float) {
        checkDimensions(stride: stride, B: B, T: T, NH: NH, NKV: NKV, HS: HS)
        let group = NH / NKV, C = NH * HS
        var gq = [Double](repeating: 0, count: B * T * stride)
        var gk = gq, gv = gq
        var dS = [Double](repeating: 0, count: T)
        for b in 0..<B {
            for h in 0..<NH {
                let g = h / group
                for t in 0..<T {
                    let P = probs + ((b * NH + h) * T + t) * T
                    let dO = dOut + (b * T + t) * C + h * HS
                    var dot = 0.0
                    for j in 0...t {
                        var dp = 0.0
                        for d in 0..<HS { dp += Double(dO[d]) * Double(v[(b * T + j) * stride + g * HS + d]) }
                        dS[j] = dp
                        dot += Double(P[j]) * dp
                    }
                    for j in 0...t {
                        let ds = Double(P[j]) * (dS[j] - dot) * Double(scale)
                        for d in 0..<HS {
                            let qi = (b * T + t) * stride + h * HS + d, ki = (b * T + j) * stride + g * HS + d
                            gq[qi] += ds * Double(k[ki])
                            gk[ki] += ds * Double(q[qi])
                            gv[ki] += Double(P[j]) * Double(dO[d])
                        }
                    }
                }
            }
        }
        for row in 0..<(B * T) {
            for h in 0..<NH {
                for d in 0..<HS { let i = row * stride + h * HS + d; dQ[i] += Float(gq[i]) }
            }
            for g in 0..<NKV {
                for d in 0..<HS {
                    let i = row * stride + g * HS + d
                    dK[i] += Float(gk[i])
                    dV[i] += Float(gv[i])
                }
            }
        }
    }

    /// Reference of ``forwardCached(out:q:qStride:kCache:vCache:cacheStride:past:n:NH:NKV:HS:scale:scratch:)``
    /// (allocates; no scratch argument).
    public static func forwardCachedReference(out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, qStride: Int,
                                              kCache: UnsafePointer<Float>, vCache: UnsafePointer<Float>, cacheStride: Int,
                                              past: Int, n: Int, NH: Int, NKV: Int, HS: Int, scale: Float) {
        let group = NH / NKV, C = NH * HS
        var p = [Double](repeating: 0, count: past + n)
        for i in 0..<n {
            for h in 0..<NH {
                let g = h / group
                var top = -Double.infinity
                for j in 0...(past + i) {
                    var s = 0.0
                    for d in 0..<HS { s += Double(q[i * qStride + h * HS + d]) * Double(kCache[j * cacheStride + g * HS + d]) }
                    p[j] = Double(scale) * s
                    top = max(top, p[j])
                }
                var sum = 0.0
                for j in 0...(past + i) { p[j] = exp(p[j] - top); sum += p[j] }
                for d in 0..<HS {
                    var o = 0.0
                    for j in 0...(past + i) { o += p[j] * Double(vCache[j * cacheStride + g * HS + d]) }
                    out[i * C + h * HS + d] = Float(o / sum)
                }
            }
        }
    }
}
