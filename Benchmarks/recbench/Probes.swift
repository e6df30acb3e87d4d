import Foundation
import RecCore

/// The machine's limits, measured in the same run as the figures they judge: the FMA peak
/// (independent chains of fused multiply-adds per thread, in the build's widest vectors) and the
/// streaming read bandwidth (a sum over a buffer). The peak is the best seen per thread count,
/// probed again for every figure; the bandwidth is cached per thread count and size.
enum Probes {
    nonisolated(unsafe) static var peaks = [Int: Double]()
    nonisolated(unsafe) static var bandwidths = [String: Double]()

    /// GFLOP/s of `threads` threads doing nothing but FMAs: the best of 5 runs now and of every
    /// earlier call in the process for that thread count. Measured again at every call (each
    /// figure's efficiency asks after its timed repetitions): a probe that fell in a slow moment
    /// of a shared host (one run read 125 GFLOP/s where the others read 180–188) would make
    /// every figure after it look closer to the peak than it is.
    static func fmaPeak(threads: Int) -> Double {
        let iterations = 16_000_000
        var best = peaks[threads] ?? 0
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            Threading.perWorker(threads) { w in sink(fmaChains(iterations, Float(w) * 1e-3).0) }
            let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = max(best, Double(threads) * Double(iterations) * fmaChains(0, 0).flopsPerIteration / s / 1e9)
        }
        peaks[threads] = best
        return best
    }

    /// GB/s of `threads` threads reading a buffer of `bytes` over and over (at least 256 MB in
    /// all, after one untimed pass; best of 5 runs): the bandwidth of the memory level a working
    /// set of that size lives in. 256 MB is past any cache (DRAM).
    static func streamBandwidth(threads: Int, bytes: Int = 256 << 20) -> Double {
        let key = "\(threads)/\(bytes)"
        if let b = bandwidths[key] { return b }
        let n = max(64 * threads, bytes / 4)
        let passes = max(1, (256 << 20) / (n * 4))
        let data = [Float](repeating: 1e-9, count: n)
        var best = 0.0
        data.withUnsafeBufferPointer { p in
            let base = SendablePointer(value: p.baseAddress!)
            func run(_ times: Int) {
                Threading.perWorker(threads) { w in
                    let lo = w * n / threads
                    let hi = (w + 1) * n / threads
                    for _ in 0..<times { sink(sumStream(base.value + lo, hi - lo)) }
                }
            }
            run(1)
            for _ in 0..<5 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                run(passes)
                let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                best = max(best, Double(n * 4 * passes) / s / 1e9)
            }
        }
        bandwidths[key] = best
        return best
    }

    /// Efficiency fields for a measurement of `flops` (and/or `bytes` read) in `ms`.
    static func efficiency(flops: Double? = nil, bytes: Double? = nil, ms: Double, threads: Int) -> [(String, Any)] {
        var out = [(String, Any)]()
        if let flops {
            let g = flops / (ms / 1e3) / 1e9
            let peak = fmaPeak(threads: threads)
            out += [("gflop", flops / 1e9), ("gflops", g), ("fma_peak_gflops", peak), ("of_peak", g / peak)]
        }
        if let bytes {
            // Against a read of the same working set (the cache level it lives in when queries
            // repeat) and against DRAM.
            let gbs = bytes / (ms / 1e3) / 1e9
            let same = streamBandwidth(threads: threads, bytes: Int(bytes))
            let dram = streamBandwidth(threads: threads)
            out += [
                ("gb_per_s", gbs), ("stream_same_size_gb_per_s", same), ("of_stream_same_size", gbs / same),
                ("stream_dram_gb_per_s", dram),
            ]
        }
        return out
    }
}

/// 12 independent chains of y + a·x in the widest vectors this build uses: 16 lanes when compiled
/// for AVX-512, else 8 (16-lane chains on AVX2 would need 24 registers of 16 and spill, measuring
/// less than the machine's peak). Returns the result and the FLOPs an iteration.
func fmaChains(_ n: Int, _ seed: Float) -> (Float, flopsPerIteration: Double) {
    BuildTarget.compiled.contains(.avx512f) ? (fmaChains16(n, seed), 12 * 32) : (fmaChains8(n, seed), 12 * 16)
}

@inline(never)
func fmaChains16(_ n: Int, _ seed: Float) -> Float { fmaChains(SIMD16<Float>.self, n, seed) }
@inline(never)
func fmaChains8(_ n: Int, _ seed: Float) -> Float { fmaChains(SIMD8<Float>.self, n, seed) }

@inline(__always)
func fmaChains<V: SIMD>(_: V.Type, _ n: Int, _ seed: Float) -> Float where V.Scalar == Float {
    let x = V(repeating: 0.999_999)
    let y = V(repeating: 1e-7)
    var a0 = V(repeating: seed)
    var a1 = a0 + 1
    var a2 = a0 + 2
    var a3 = a0 + 3
    var a4 = a0 + 4
    var a5 = a0 + 5
    var a6 = a0 + 6
    var a7 = a0 + 7
    var a8 = a0 + 8
    var a9 = a0 + 9
    var a10 = a0 + 10
    var a11 = a0 + 11
    for _ in 0..<n {
        a0 = y.addingProduct(a0, x)
        a1 = y.addingProduct(a1, x)
        a2 = y.addingProduct(a2, x)
        a3 = y.addingProduct(a3, x)
        a4 = y.addingProduct(a4, x)
        a5 = y.addingProduct(a5, x)
        a6 = y.addingProduct(a6, x)
        a7 = y.addingProduct(a7, x)
        a8 = y.addingProduct(a8, x)
        a9 = y.addingProduct(a9, x)
        a10 = y.addingProduct(a10, x)
        a11 = y.addingProduct(a11, x)
    }
    let s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))
    return s.sum()
}

/// Sum of `n` floats with four 16-lane accumulators (a streaming read).
@inline(never)
func sumStream(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    typealias V = SIMD16<Float>
    var s0 = V()
    var s1 = V()
    var s2 = V()
    var s3 = V()
    var i = 0
    while i + 64 <= n {
        s0 += UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
        s1 += UnsafeRawPointer(p + i + 16).loadUnaligned(as: V.self)
        s2 += UnsafeRawPointer(p + i + 32).loadUnaligned(as: V.self)
        s3 += UnsafeRawPointer(p + i + 48).loadUnaligned(as: V.self)
        i += 64
    }
    var s = ((s0 + s1) + (s2 + s3)).sum()
    while i < n {
        s += p[i]
        i += 1
    }
    return s
}

/// Keeps a value alive so the optimiser cannot drop the work that made it.
@inline(never)
func sink(_ x: Float) { if x == .pi { print("") } }

struct SendablePointer: @unchecked Sendable { let value: UnsafePointer<Float> }

/// FLOP counts of the measured work (multiply and add counted as 2).
enum Flops {
    /// Scores of B states against N items of dimension d.
    static func score(batch b: Int, items n: Int, dim d: Int) -> Double { 2 * Double(b) * Double(n) * Double(d) }
    /// Attention forward: QKᵀ and PV over every (query, key) pair, the masked half included.
    static func attentionForward(batch b: Int, length l: Int, dim d: Int) -> Double {
        4 * Double(b) * Double(l * l) * Double(d)
    }
    /// SASRec forward, dense-equivalent: every block on all B·L rows (Q, K, V and FFN projections, the
    /// output projection when present, attention). The last block really computes its queries and
    /// FFN for the B state rows only, so its saving counts as speed.
    static func encoderForward(batch b: Int, length l: Int, dim d: Int, blocks: Int, projection: Bool) -> Double {
        let rows = Double(b * l)
        let dd = Double(d * d)
        let perBlock = 2 * rows * dd * (projection ? 6 : 5) + attentionForward(batch: b, length: l, dim: d)
        return Double(blocks) * perBlock
    }
    /// Forward + backward (backward ≈ twice the forward).
    static func encoderStep(batch b: Int, length l: Int, dim d: Int, blocks: Int, projection: Bool) -> Double {
        3 * encoderForward(batch: b, length: l, dim: d, blocks: blocks, projection: projection)
    }
    /// Full-softmax head: logits, dW and dS, 3 × 2·B·N·d.
    static func softmaxHead(batch b: Int, items n: Int, dim d: Int) -> Double { 3 * score(batch: b, items: n, dim: d) }
}
