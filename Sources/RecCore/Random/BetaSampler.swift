#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Beta draws for a fixed set of columns (one (a, b) pair per column), block by block: the engine
/// behind `RandomStream.fillBeta`, public so that other modules can draw blocks inside their own
/// chunked parallel loops (Thompson-sampling simulations) without per-call setup.
public struct BetaSampler: Sendable {
    /// Number of columns.
    public let columns: Int
    let pa: [GammaLanes]
    let pb: [GammaLanes]

    /// - Precondition: `alpha.count == beta.count`; every parameter positive and finite.
    public init(alpha: [Float], beta: [Float]) {
        let cols = alpha.count
        precondition(cols == beta.count, "BetaSampler: \(alpha.count) alphas but \(beta.count) betas")
        for j in 0..<cols {
            precondition(
                alpha[j] > 0 && alpha[j].isFinite && beta[j] > 0 && beta[j].isFinite,
                "BetaSampler: parameters of column \(j) must be positive and finite, got (\(alpha[j]), \(beta[j]))")
        }
        columns = cols
        var pa = [GammaLanes]()
        var pb = [GammaLanes]()
        for v in 0..<((cols + 15) / 16) {
            var a = SIMD16<Float>(repeating: 1)
            var b = SIMD16<Float>(repeating: 1)
            for l in 0..<16 where v * 16 + l < cols {
                a[l] = alpha[v * 16 + l]
                b[l] = beta[v * 16 + l]
            }
            pa.append(GammaLanes(shape: a))
            pb.append(GammaLanes(shape: b))
        }
        self.pa = pa
        self.pb = pb
    }

    /// Scratch space for `fill`; one per thread.
    public final class Workspace {
        var queue: DeferredGammaQueue
        let y: UnsafeMutablePointer<Float>
        let capacity: Int
        init(capacity: Int, columns: Int) {
            self.capacity = capacity
            queue = DeferredGammaQueue(capacity: capacity, columns: columns)
            y = .allocate(capacity: capacity)
        }
        deinit {
            queue.deallocate()
            y.deallocate()
        }
    }

    /// A workspace for blocks of up to `maxRows` rows.
    public func makeWorkspace(maxRows: Int) -> Workspace {
        Workspace(capacity: max(1, maxRows * columns), columns: columns)
    }

    /// Fills `rows × columns` draws (row-major) at `out` from `stream` (deterministic in it).
    /// X/(X+Y) per cell; where both gammas underflow (tiny shapes), the limit law: 1 with
    /// probability a/(a+b), else 0.
    /// - Precondition: the workspace holds at least `rows × columns` draws.
    public func fill(_ out: UnsafeMutablePointer<Float>, rows: Int, stream: RandomStream, workspace: Workspace) {
        let cols = columns
        let n = rows * cols
        precondition(n <= workspace.capacity, "BetaSampler.fill: \(rows) rows exceed the workspace")
        if n == 0 { return }
        var rng = stream.vectorGenerator()
        var scalar = stream.generator()
        let y = workspace.y
        pa.withUnsafeBufferPointer { pa in
            pb.withUnsafeBufferPointer { pb in
                fillGammaBlock(
                    out, rows: rows, cols: cols, params: pa.baseAddress!, rng: &rng, scalar: &scalar,
                    queue: &workspace.queue)
                fillGammaBlock(
                    y, rows: rows, cols: cols, params: pb.baseAddress!, rng: &rng, scalar: &scalar,
                    queue: &workspace.queue)
                // X/(X+Y); a NaN means both gammas underflowed (tiny shapes): use the limit law.
                var i = 0
                var sawNaN = false
                while i + 16 <= n {
                    let xv = VectorMath.load(out + i)
                    let yv = VectorMath.load(y + i)
                    let r = xv / (xv + yv)
                    sawNaN = sawNaN || any(r .!= r)
                    VectorMath.store(r, out + i)
                    i += 16
                }
                while i < n {
                    out[i] = out[i] / (out[i] + y[i])
                    sawNaN = sawNaN || out[i].isNaN
                    i += 1
                }
                if sawNaN {
                    for j in 0..<n where out[j].isNaN {
                        let col = j % cols
                        let a = Double(pa[col / 16].shape[col % 16])
                        let b = Double(pb[col / 16].shape[col % 16])
                        out[j] = Sampling.uniform(&scalar) < a / (a + b) ? 1 : 0
                    }
                }
            }
        }
    }
}
