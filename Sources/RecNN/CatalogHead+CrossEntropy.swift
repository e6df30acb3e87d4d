import Foundation
import RecCore

/// The two passes of `CatalogHead.crossEntropy` over the catalog's item blocks (blocks split in
/// contiguous ranges, one per worker): pass 1 computes each block's logits (one sgemm) and a
/// running max and sum of exponentials per row; pass 2 turns each stored block into
/// (softmax − one-hot)·weight/B in place and forms dW = Pᵀ S, db = Σ P and dS += P W. The
/// pointers stay valid for the passes' duration (the caller holds them); the workers write
/// disjoint blocks of Z, gW, gB and their own rows of runMax, runSum and partialDS.
struct CrossEntropyPasses: @unchecked Sendable {
    let S: UnsafePointer<Float>
    let W: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let gW: UnsafeMutablePointer<Float>
    let gB: UnsafeMutablePointer<Float>
    /// The logits, block-major: block k holds B × cnt_k.
    let Z: UnsafeMutablePointer<Float>
    /// Per worker and row, the running max and Σ exp(z − max) over the worker's blocks.
    let runMax: UnsafeMutablePointer<Float>
    let runSum: UnsafeMutablePointer<Float>
    /// Per row, log Σ exp z.
    let lse: UnsafeMutablePointer<Float>
    /// Per worker, its B × d share of dS.
    let partialDS: UnsafeMutablePointer<Float>
    let B: Int
    let N: Int
    let d: Int
    let blockItems: Int
    let workers: Int
    let targets: [Int]
    let rowWeight: [Float]
    let blas: Parallelism

    /// The item blocks of worker `w`.
    func blocks(worker w: Int) -> Range<Int> {
        let blocks = (N + blockItems - 1) / blockItems
        return (w * blocks / workers)..<((w + 1) * blocks / workers)
    }

    /// Pass 1 for worker `w`: logits = bias + S Wᵀ per block, and the running max and sum.
    func logits(worker w: Int) {
        for k in blocks(worker: w) {
            let j0 = k * blockItems
            let cnt = min(blockItems, N - j0)
            let z = Z + B * j0
            for r in 0..<B { (z + r * cnt).update(from: bias + j0, count: cnt) }
            BLAS.sgemm(
                .none, .transpose, m: B, n: cnt, k: d, alpha: 1, a: S, lda: d, b: W + j0 * d, ldb: d, beta: 1, c: z,
                ldc: cnt, parallelism: blas)
            for r in 0..<B {
                let row = UnsafeBufferPointer(start: z + r * cnt, count: cnt)
                let m = Kernels.max(row)
                let o = w * B + r
                let newMax = Swift.max(runMax[o], m)
                var s = runSum[o] * (runMax[o] == -.infinity ? 0 : exp(runMax[o] - newMax))
                s += Kernels.sumExpShifted(row, shift: newMax)
                runMax[o] = newMax
                runSum[o] = s
            }
        }
    }

    /// Combines the workers' running sums into each row's log-sum-exp (in worker order) and
    /// returns Σ_b weight_b · (lse_b − z_b,target).
    func logSumExps() -> Double {
        var loss = 0.0
        for r in 0..<B {
            var m: Float = -.infinity
            for w in 0..<workers { m = Swift.max(m, runMax[w * B + r]) }
            var s: Float = 0
            for w in 0..<workers where runMax[w * B + r] > -.infinity {
                s += runSum[w * B + r] * exp(runMax[w * B + r] - m)
            }
            lse[r] = m + log(s)
            let t = targets[r] - 1
            let j0 = t / blockItems * blockItems
            let cnt = min(blockItems, N - j0)
            loss += Double(rowWeight[r]) * Double(lse[r] - Z[B * j0 + r * cnt + (t - j0)])
        }
        return loss
    }

    /// Pass 2 for worker `w`: P = (softmax − one-hot)·weight·`scale` per block, in place; then
    /// dW += Pᵀ S, db += Σ P and the worker's dS += P W.
    func gradients(worker w: Int, scale invB: Float) {
        let myDS = partialDS + w * B * d
        for k in blocks(worker: w) {
            let j0 = k * blockItems
            let cnt = min(blockItems, N - j0)
            let z = Z + B * j0
            for r in 0..<B {
                softmaxMinusOneHot(z + r * cnt, row: r, items: j0, count: cnt, scale: invB * rowWeight[r])
            }
            BLAS.sgemm(
                .transpose, .none, m: cnt, n: d, k: B, alpha: 1, a: UnsafePointer(z), lda: cnt, b: S, ldb: d,
                beta: 1, c: gW + j0 * d, ldc: d, parallelism: blas)
            CatalogHead.addRows(z, rows: B, count: cnt, into: gB + j0)
            BLAS.sgemm(
                .none, .none, m: B, n: d, k: cnt, alpha: 1, a: UnsafePointer(z), lda: cnt, b: W + j0 * d, ldb: d,
                beta: 1, c: myDS, ldc: d, parallelism: blas)
        }
    }

    /// row[j] = exp(row[j] − lse_r)·scale, minus scale at the row's target when it is in the block.
    func softmaxMinusOneHot(_ row: UnsafeMutablePointer<Float>, row r: Int, items j0: Int, count cnt: Int, scale: Float)
    {
        let sh = SIMD16<Float>(repeating: lse[r])
        let sc = SIMD16<Float>(repeating: scale)
        var j = 0
        while j + 16 <= cnt {
            VectorMath.store(VectorMath.exp(VectorMath.load(row + j) - sh) * sc, row + j)
            j += 16
        }
        while j < cnt {
            row[j] = exp(row[j] - lse[r]) * scale
            j += 1
        }
        let t = targets[r] - 1
        if t >= j0 && t < j0 + cnt { row[t - j0] -= scale }
    }
}
