import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The two passes of `CatalogHead.crossEntropy` over the catalog's item blocks, in the
/// item-major layout: block k's logits are `cnt_k × ld` (row j: item j₀ + j for every state,
/// `CatalogLogits.transposed`), computed in a worker's block buffer, small enough to stay in L2
/// between the kernel that writes it and the passes that read it.
///
/// The blocks are grouped in `chunks` contiguous ranges, a number that depends on the catalog
/// and the block size only; each chunk keeps its own running (max, sum) per state and its own
/// part of dS, and the chunks are merged in chunk order. So the workers take chunks as they
/// free up (a worker slowed by the host does not hold the other back) and the result does not
/// depend on the thread count or on which worker ran which chunk.
///
/// Pass 1 computes each block's logits z, the block's max m per state, then e = exp(z − m),
/// streamed out to Z while summed (every exponential of the step is taken here, once). With the
/// log-sum-exp known, the softmax is P = e · exp(m − lse) (per block and state: a factor f), so
/// pass 2 reads each block of Z back scaled by f into the block buffer (no exponentials; Z is not
/// written again) and forms dW = P S, db = Σ P and dS += Pᵀ W. The one-hot part of
/// (softmax − one-hot) is a rank-one correction per state, added once after the chunks
/// (`oneHotCorrections`). The pointers stay valid for the passes' duration (the caller holds
/// them); the chunks write disjoint blocks of Z, gW, gB and their own rows of runMax, runSum and
/// partialDS, the workers their own scratch and block buffer (`slot`).
struct CrossEntropyPasses: @unchecked Sendable {
    let S: UnsafePointer<Float>
    let W: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let gW: UnsafeMutablePointer<Float>
    let gB: UnsafeMutablePointer<Float>
    /// The shifted exponentials, item-major: item j's row at `Z + j·ld`, columns 0..<B
    /// (written by pass 1 with streaming stores, read by pass 2; 32-byte aligned rows).
    let Z: UnsafeMutablePointer<Float>
    /// Sᵀ, the per-block and per-state values, the workers' scratch (`CrossEntropyBuffers`).
    let buf: CrossEntropyBuffers
    let B: Int
    let ld: Int
    let N: Int
    let d: Int
    let blockItems: Int
    let chunks: Int
    let targets: [Int]
    let rowWeight: [Float]

    /// Chunks for a catalog of `blocks` blocks: enough for the workers to balance (a few per
    /// thread), few enough that their dS parts stay small.
    static func chunks(blocks: Int) -> Int { max(1, min(blocks, 32)) }

    /// The item blocks of chunk `c`.
    func blocks(chunk c: Int) -> Range<Int> {
        let blocks = (N + blockItems - 1) / blockItems
        return (c * blocks / chunks)..<((c + 1) * blocks / chunks)
    }

    /// Pass 1 for chunk `c` on the worker holding `slot`: each block's logits in the worker's
    /// block buffer (L2), its max per state (kept), the target logits that fall in it (kept),
    /// then the exponentials streamed straight out to Z (no read of Z's lines before they are
    /// written, no eviction of what is in cache; columns B..<ld of Z are not written) and their
    /// sum merged into the chunk's running pair.
    func logits(chunk c: Int, slot w: Int) {
        let s = buf.scratch + w * B
        let z = buf.block + w * blockItems * ld
        for k in blocks(chunk: c) {
            let j0 = k * blockItems
            let cnt = min(blockItems, N - j0)
            let m = buf.blockMax + k * B
            CatalogLogits.transposed(
                weights: W, bias: bias, items: j0..<(j0 + cnt), dimension: d, statesT: buf.statesT, ld: ld, states: B,
                into: z)
            m.update(from: z, count: B)
            for j in 1..<max(1, cnt) { Kernels.maxInPlace(m, z + j * ld, count: B) }
            for r in 0..<B where targets[r] - 1 >= j0 && targets[r] - 1 < j0 + cnt {
                buf.targetLogit[r] = z[(targets[r] - 1 - j0) * ld + r]
            }
            s.initialize(repeating: 0, count: B)
            for j in 0..<cnt {
                Kernels.expShiftedAccumulating(z + j * ld, shift: m, into: s, streamingTo: Z + (j0 + j) * ld, count: B)
            }
            mergeRunning(chunk: c, blockMax: m, blockSum: s)
        }
        Kernels.storeFence()
    }

    /// Merges a block's (max, Σ exp(z − max)) per state into chunk `c`'s running pair.
    func mergeRunning(chunk c: Int, blockMax m: UnsafePointer<Float>, blockSum s: UnsafePointer<Float>) {
        for r in 0..<B {
            let o = c * B + r
            let runMax = buf.runMax[o]
            if m[r] <= runMax {
                // The running max stands (most blocks): the old sum's factor is exp(0) = 1, so
                // one exponential, the same bits as the general case.
                if m[r] > -.infinity { buf.runSum[o] += s[r] * exp(m[r] - runMax) }
                continue
            }
            let newMax = Swift.max(runMax, m[r])
            let old = runMax == -.infinity ? 0 : buf.runSum[o] * exp(runMax - newMax)
            let block = m[r] == -.infinity ? 0 : s[r] * exp(m[r] - newMax)
            buf.runMax[o] = newMax
            buf.runSum[o] = old + block
        }
    }

    /// Combines the chunks' running sums into each state's log-sum-exp (in chunk order) and
    /// returns Σ_b weight_b · (lse_b − z_b,target).
    func logSumExps() -> Double {
        var loss = 0.0
        for r in 0..<B {
            var m: Float = -.infinity
            for c in 0..<chunks { m = Swift.max(m, buf.runMax[c * B + r]) }
            var s: Float = 0
            for c in 0..<chunks where buf.runMax[c * B + r] > -.infinity {
                s += buf.runSum[c * B + r] * exp(buf.runMax[c * B + r] - m)
            }
            buf.lse[r] = m + log(s)
            loss += Double(rowWeight[r]) * Double(buf.lse[r] - buf.targetLogit[r])
        }
        return loss
    }

    /// Pass 2 for chunk `c` on the worker holding `slot`, the softmax part: per block,
    /// f = c · exp(m − lse) per state, P = E ⊙ f read from Z into the worker's block buffer (L2;
    /// Z itself is not written again) with db += Σ P, then dW += P S and the chunk's dS += Pᵀ W.
    func gradients(chunk c: Int, slot w: Int) {
        let myDS = buf.partialDS + c * B * d
        let f = buf.scratch + w * B
        let p = buf.block + w * blockItems * ld
        for k in blocks(chunk: c) {
            let j0 = k * blockItems
            let cnt = min(blockItems, N - j0)
            let m = buf.blockMax + k * B
            for r in 0..<B { f[r] = m[r] == -.infinity ? 0 : buf.factor[r] * exp(m[r] - buf.lse[r]) }
            for j in 0..<cnt { gB[j0 + j] += Kernels.scaled(Z + (j0 + j) * ld, by: f, into: p + j * ld, count: B) }
            BLAS.sgemm(
                .none, .none, m: cnt, n: d, k: B, alpha: 1, a: p, lda: ld, b: S, ldb: d, beta: 1,
                c: gW + j0 * d, ldc: d, parallelism: .sequential)
            BLAS.sgemm(
                .transpose, .none, m: B, n: d, k: cnt, alpha: 1, a: p, lda: ld, b: W + j0 * d, ldb: d, beta: 1,
                c: myDS, ldc: d, parallelism: .sequential)
        }
    }

    /// The one-hot part of the gradient, once per state after the chunks (in state order):
    /// db_t −= c, dW_t −= c·S_r, dS_r −= c·W_t.
    func oneHotCorrections(into dS: UnsafeMutablePointer<Float>) {
        for r in 0..<B {
            let t = targets[r] - 1
            let c = buf.factor[r]
            gB[t] -= c
            for k in 0..<d {
                gW[t * d + k] -= c * S[r * d + k]
                dS[r * d + k] -= c * W[t * d + k]
            }
        }
    }
}

/// The per-call buffers of `CatalogHead.crossEntropy` besides the kept exponentials: Sᵀ (d × ld,
/// zero past the states); per block and state the block's max; per state its target's logit, its
/// log-sum-exp and the gradient's factor c; per chunk its running (max, sum) and its part of dS;
/// per worker B floats of scratch and a block buffer (blockItems × ld: one block's logits, kept
/// in L2).
struct CrossEntropyBuffers {
    let statesT: UnsafeMutablePointer<Float>
    let blockMax: UnsafeMutablePointer<Float>
    let targetLogit: UnsafeMutablePointer<Float>
    let runMax: UnsafeMutablePointer<Float>
    let runSum: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>
    let block: UnsafeMutablePointer<Float>
    let lse: UnsafeMutablePointer<Float>
    let factor: UnsafeMutablePointer<Float>
    let partialDS: UnsafeMutablePointer<Float>

    init(
        states B: Int, dim d: Int, ld: Int, blocks: Int, blockItems: Int, chunks: Int, workers: Int, factors: [Float]
    ) {
        statesT = .allocate(capacity: d * ld)
        statesT.initialize(repeating: 0, count: d * ld)
        blockMax = .allocate(capacity: blocks * B)
        targetLogit = .allocate(capacity: B)
        runMax = .allocate(capacity: chunks * B)
        runMax.initialize(repeating: -.infinity, count: chunks * B)
        runSum = .allocate(capacity: chunks * B)
        runSum.initialize(repeating: 0, count: chunks * B)
        scratch = .allocate(capacity: workers * B)
        // Zero once: the columns past B of each row are never read.
        block = .allocate(capacity: workers * blockItems * ld)
        block.initialize(repeating: 0, count: workers * blockItems * ld)
        lse = .allocate(capacity: B)
        lse.initialize(repeating: 0, count: B)
        factor = .allocate(capacity: B)
        factor.initialize(from: factors, count: B)
        partialDS = .allocate(capacity: chunks * B * d)
        partialDS.initialize(repeating: 0, count: chunks * B * d)
    }

    func deallocate() {
        for p in [statesT, blockMax, targetLogit, runMax, runSum, scratch, block, lse, factor, partialDS] {
            p.deallocate()
        }
    }
}
