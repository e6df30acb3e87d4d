import Foundation
import RecCore

/// The two passes of `CatalogHead.crossEntropy` over the catalog's item blocks (blocks split in
/// contiguous ranges, one per worker), in the item-major layout: block k's logits are
/// `cnt_k × ld` (row j: item j₀ + j for every state, `CatalogLogits.transposed`), small enough to
/// stay in L2 between the kernel that writes them and the passes that read them.
///
/// Pass 1 computes each block's logits z, the block's max m per state, then replaces z by
/// e = exp(z − m) in place while summing it: every exponential of the step is taken here,
/// once. With the log-sum-exp known, the softmax is P = e · exp(m − lse) (per block and state:
/// a factor f), so pass 2 scales each stored block by f (no exponentials) and forms dW = P S,
/// db = Σ P and dS += Pᵀ W. The one-hot part of (softmax − one-hot) is a rank-one
/// correction per state, added once after the workers (`oneHotCorrections`). The pointers stay
/// valid for the passes' duration (the caller holds them); the workers write disjoint blocks of
/// Z, gW, gB and their own rows of runMax, runSum, scratch and partialDS.
struct CrossEntropyPasses: @unchecked Sendable {
    let S: UnsafePointer<Float>
    /// Sᵀ, d × ld, zero past the B states.
    let ST: UnsafePointer<Float>
    let W: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let gW: UnsafeMutablePointer<Float>
    let gB: UnsafeMutablePointer<Float>
    /// The logits, then their shifted exponentials, item-major: item j's row at `Z + j·ld`.
    let Z: UnsafeMutablePointer<Float>
    /// Per block and state, the block's max logit.
    let blockMax: UnsafeMutablePointer<Float>
    /// Per state, its target's logit.
    let targetLogit: UnsafeMutablePointer<Float>
    /// Per worker and state, the running max and Σ exp(z − max) over the worker's blocks.
    let runMax: UnsafeMutablePointer<Float>
    let runSum: UnsafeMutablePointer<Float>
    /// Per worker, B floats of scratch.
    let scratch: UnsafeMutablePointer<Float>
    /// Per state, log Σ exp z.
    let lse: UnsafeMutablePointer<Float>
    /// Per state, weight · scale (the gradient's row factor c).
    let factor: UnsafeMutablePointer<Float>
    /// Per worker, its B × d share of dS.
    let partialDS: UnsafeMutablePointer<Float>
    let B: Int
    let ld: Int
    let N: Int
    let d: Int
    let blockItems: Int
    let workers: Int
    let targets: [Int]
    let rowWeight: [Float]

    /// Floats of scratch per worker.
    static func scratchCount(states B: Int, dim d: Int) -> Int { B }

    /// The item blocks of worker `w`.
    func blocks(worker w: Int) -> Range<Int> {
        let blocks = (N + blockItems - 1) / blockItems
        return (w * blocks / workers)..<((w + 1) * blocks / workers)
    }

    /// Pass 1 for worker `w`: each block's logits, its max per state (kept), the target logits
    /// that fall in it (kept), then the exponentials in place, their sum merged into the worker's
    /// running pair.
    func logits(worker w: Int) {
        let s = scratch + w * Self.scratchCount(states: B, dim: d)
        for k in blocks(worker: w) {
            let j0 = k * blockItems
            let cnt = min(blockItems, N - j0)
            let z = Z + j0 * ld
            let m = blockMax + k * B
            CatalogLogits.transposed(
                weights: W, bias: bias, items: j0..<(j0 + cnt), dimension: d, statesT: ST, ld: ld, into: z)
            m.update(from: z, count: B)
            for j in 1..<max(1, cnt) { Kernels.maxInPlace(m, z + j * ld, count: B) }
            for r in 0..<B where targets[r] - 1 >= j0 && targets[r] - 1 < j0 + cnt {
                targetLogit[r] = z[(targets[r] - 1 - j0) * ld + r]
            }
            s.initialize(repeating: 0, count: B)
            for j in 0..<cnt { Kernels.expShiftedAccumulating(z + j * ld, shift: m, into: s, count: B) }
            for r in 0..<B {
                let o = w * B + r
                let newMax = Swift.max(runMax[o], m[r])
                let old = runMax[o] == -.infinity ? 0 : runSum[o] * exp(runMax[o] - newMax)
                let block = m[r] == -.infinity ? 0 : s[r] * exp(m[r] - newMax)
                runMax[o] = newMax
                runSum[o] = old + block
            }
        }
    }

    /// Combines the workers' running sums into each state's log-sum-exp (in worker order) and
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
            loss += Double(rowWeight[r]) * Double(lse[r] - targetLogit[r])
        }
        return loss
    }

    /// Pass 2 for worker `w`, the softmax part: per block, f = c · exp(m − lse) per state,
    /// P = E ⊙ f in place (row by row, while the block is in L2) with db += Σ P, then
    /// dW += P S and the worker's dS += Pᵀ W.
    func gradients(worker w: Int) {
        let myDS = partialDS + w * B * d
        let f = scratch + w * Self.scratchCount(states: B, dim: d)
        for k in blocks(worker: w) {
            let j0 = k * blockItems
            let cnt = min(blockItems, N - j0)
            let p = Z + j0 * ld
            let m = blockMax + k * B
            for r in 0..<B { f[r] = m[r] == -.infinity ? 0 : factor[r] * exp(m[r] - lse[r]) }
            for j in 0..<cnt { gB[j0 + j] += Kernels.scaleInPlace(p + j * ld, by: f, count: B) }
            BLAS.sgemm(
                .none, .none, m: cnt, n: d, k: B, alpha: 1, a: p, lda: ld, b: S, ldb: d, beta: 1,
                c: gW + j0 * d, ldc: d, parallelism: .sequential)
            BLAS.sgemm(
                .transpose, .none, m: B, n: d, k: cnt, alpha: 1, a: p, lda: ld, b: W + j0 * d, ldb: d, beta: 1,
                c: myDS, ldc: d, parallelism: .sequential)
        }
    }

    /// The one-hot part of the gradient, once per state after the workers (in state order):
    /// db_t −= c, dW_t −= c·S_r, dS_r −= c·W_t.
    func oneHotCorrections(into dS: UnsafeMutablePointer<Float>) {
        for r in 0..<B {
            let t = targets[r] - 1
            let c = factor[r]
            gB[t] -= c
            for k in 0..<d {
                gW[t * d + k] -= c * S[r * d + k]
                dS[r * d + k] -= c * W[t * d + k]
            }
        }
    }
}

/// The per-call buffers of `CatalogHead.crossEntropy` besides the kept logits: Sᵀ (d × ld, zero
/// past the states); per block and state the block's max; per state its target's logit, its
/// log-sum-exp and the gradient's factor c; per worker its running (max, sum), scratch and dS.
struct CrossEntropyBuffers {
    let statesT: UnsafeMutablePointer<Float>
    let blockMax: UnsafeMutablePointer<Float>
    let targetLogit: UnsafeMutablePointer<Float>
    let runMax: UnsafeMutablePointer<Float>
    let runSum: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>
    let lse: UnsafeMutablePointer<Float>
    let factor: UnsafeMutablePointer<Float>
    let partialDS: UnsafeMutablePointer<Float>

    init(states B: Int, dim d: Int, ld: Int, blocks: Int, workers: Int, factors: [Float]) {
        statesT = .allocate(capacity: d * ld)
        statesT.initialize(repeating: 0, count: d * ld)
        blockMax = .allocate(capacity: blocks * B)
        targetLogit = .allocate(capacity: B)
        runMax = .allocate(capacity: workers * B)
        runMax.initialize(repeating: -.infinity, count: workers * B)
        runSum = .allocate(capacity: workers * B)
        runSum.initialize(repeating: 0, count: workers * B)
        scratch = .allocate(capacity: workers * CrossEntropyPasses.scratchCount(states: B, dim: d))
        lse = .allocate(capacity: B)
        lse.initialize(repeating: 0, count: B)
        factor = .allocate(capacity: B)
        factor.initialize(from: factors, count: B)
        partialDS = .allocate(capacity: workers * B * d)
        partialDS.initialize(repeating: 0, count: workers * B * d)
    }

    func deallocate() {
        for p in [statesT, blockMax, targetLogit, runMax, runSum, scratch, lse, factor, partialDS] { p.deallocate() }
    }
}
