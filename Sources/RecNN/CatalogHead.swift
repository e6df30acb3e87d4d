import Dispatch
import RecCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A dense head over the catalog: logits `z = S Wᵀ + b` for items 1...N (row i − 1 of W is
/// item i), with a fused softmax cross-entropy over all items and a column-restricted path for
/// losses that touch only a few items (TD errors).
public final class CatalogHead: Module {
    /// The item vectors, N × d (`ce_head.weight` / `q_head.weight`; row i − 1 scores item i).
    public let weight: Parameter
    /// The item biases, N (1-D in checkpoints).
    public let bias: Parameter
    /// Items per block of the cross-entropy passes (a block's logits, items × states, stay in L2).
    public var blockItems = 256
    /// Seconds the last `crossEntropy` spent in its first pass (logits and log-sum-exp: the
    /// head's forward) and its second (softmax gradient, dW, db, dS: the backward).
    public private(set) var lastCrossEntropySeconds: (forward: Double, backward: Double) = (0, 0)
    /// Items in the catalog (N).
    public var items: Int { weight.value.rows }
    /// The state dimension (d).
    public var dim: Int { weight.value.cols }
    /// The weight, then the bias.
    public var parameters: [Parameter] { [weight, bias] }
    /// The cross-entropy's logits buffer (N × B floats), kept from one call to the next: a fresh
    /// buffer of that size every step costs its page faults again (about 3% of a training step
    /// at N = 100,000). `releaseWorkspace()` frees it.
    private var workspace: UnsafeMutableRawPointer? = nil
    private var workspaceCount = 0

    deinit { workspace?.deallocate() }

    /// Frees the buffer `crossEntropy` keeps between calls (the next call allocates it again).
    public func releaseWorkspace() {
        workspace?.deallocate()
        workspace = nil
        workspaceCount = 0
    }

    /// A buffer of at least `count` floats, 64-byte aligned (the streaming stores of pass 1 need
    /// 32), reused between calls.
    private func workspace(count: Int) -> UnsafeMutablePointer<Float> {
        if let w = workspace, workspaceCount >= count { return w.assumingMemoryBound(to: Float.self) }
        workspace?.deallocate()
        let w = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        workspace = w
        workspaceCount = count
        return w.bindMemory(to: Float.self, capacity: count)
    }

    /// A head of `items` × `dim` weights and `items` biases, initialised as a `Linear` layer.
    public init(name: String, items: Int, dim: Int, initialization: Initialization = .pytorchDefault, seed: UInt64) {
        let lin = Linear(name: name, inFeatures: dim, outFeatures: items, initialization: initialization, seed: seed)
        weight = lin.weight
        bias = lin.bias!
    }

    /// Mean softmax cross-entropy of the next items over the whole catalog, with its gradients:
    /// loss = (1/B) Σ_b [log Σ_i exp z_bi − z_b,target]. Accumulates dW and db and returns dS.
    ///
    /// Pass 1 computes the logits block by block in the item-major layout
    /// (`CatalogLogits.transposed`: the SIMD register-tiled kernel, or sgemm without AVX2) into a
    /// block buffer that stays in L2, then its max per state and its exponentials (the step's only
    /// exponentials) with a running log-sum-exp, and streams the block out to the N × B buffer
    /// (non-temporal stores: no read of the buffer's lines first); pass 2 reads each block back
    /// scaled per state (softmax = e · exp(m − lse)) into the L2 buffer and forms dW, db and dS
    /// from it, and the one-hot part as one rank-one correction per state (`CrossEntropyPasses`).
    /// The blocks are grouped in chunks (at most 32, by catalog and block size only) that the
    /// threads take as they free up; each chunk keeps its own partial sums, merged in chunk
    /// order, so the loss and the gradients are the same, bit for bit, on any thread count.
    /// FLOPs: 3 × 2·B·N·d. Memory: the N × B exponentials (B rounded up to a vector), kept
    /// between calls (`releaseWorkspace()`), one `blockItems` × B buffer per worker and a B × d
    /// part of dS per chunk.
    /// With `weights`, row b's term is multiplied by `weights[b]` (held constant: SAC and SA2C
    /// weight the supervised loss by a stop-gradient Q value or advantage).
    /// The loss is a mean over `normalizer` rows (default B): a part of a batch (a process's in
    /// data-parallel training) passes the whole batch's size, and the parts' losses and
    /// gradients add up to the whole batch's.
    /// - Throws: `.itemOutOfRange` for a target outside 1...N (naming its position).
    /// - Precondition: `states` is B × d and `targets` (and `weights`) have B entries.
    public func crossEntropy(
        states: Matrix, targets: [Int], weights: [Float]? = nil, normalizer: Int? = nil,
        parallelism: Parallelism = .automatic
    ) throws(RecNNError) -> (loss: Double, dStates: Matrix) {
        let B = states.rows
        let N = items
        let d = dim
        let mean = max(1, normalizer ?? B)
        precondition(
            states.cols == d && targets.count == B,
            "CatalogHead.crossEntropy: states \(states.shapeDescription), \(targets.count) targets, head \(N)×\(d)")
        precondition(
            weights.map { $0.count == B } ?? true,
            "CatalogHead.crossEntropy: \(weights?.count ?? 0) weights for \(B) rows")
        let rowWeight = weights ?? [Float](repeating: 1, count: B)
        for (b, t) in targets.enumerated() where t < 1 || t > N {
            throw .itemOutOfRange(id: t, position: b, vocabulary: N + 1)
        }
        let nb = max(1, blockItems)
        let blocks = (N + nb - 1) / nb
        let chunks = CrossEntropyPasses.chunks(blocks: blocks)
        let workers = max(1, min(parallelism.resolvedCount, chunks))
        let ld = CatalogLogits.leadingDimension(states: B)
        // Item-major exponentials, N × ld, in the kept workspace. Not cleared: pass 1 writes
        // columns 0..<B of every row, the only ones read.
        let logits = workspace(count: N * ld)
        let invB = 1 / Float(mean)
        let buf = CrossEntropyBuffers(
            states: B, dim: d, ld: ld, blocks: blocks, blockItems: nb, chunks: chunks, workers: workers,
            factors: rowWeight.map { invB * $0 })
        defer { buf.deallocate() }
        let partialDS = buf.partialDS
        var lossOut = 0.0
        let start = DispatchTime.now().uptimeNanoseconds
        var middle = start
        states.withUnsafeBufferPointer { sp in
            for r in 0..<B { for k in 0..<d { buf.statesT[k * ld + r] = sp[r * d + k] } }
            weight.value.withUnsafeBufferPointer { wp in
                bias.value.withUnsafeBufferPointer { bp in
                    weight.grad.withUnsafeMutableBufferPointer { gw in
                        bias.grad.withUnsafeMutableBufferPointer { gb in
                            let passes = CrossEntropyPasses(
                                S: sp.baseAddress!, W: wp.baseAddress!, bias: bp.baseAddress!, gW: gw.baseAddress!,
                                gB: gb.baseAddress!, Z: logits, buf: buf, B: B, ld: ld, N: N, d: d, blockItems: nb,
                                chunks: chunks, targets: targets, rowWeight: rowWeight)
                            Self.forEachChunk(chunks, workers: workers) { c, slot in passes.logits(chunk: c, slot: slot)
                            }
                            lossOut = passes.logSumExps() / Double(mean)
                            middle = DispatchTime.now().uptimeNanoseconds
                            Self.forEachChunk(chunks, workers: workers) { c, slot in
                                passes.gradients(chunk: c, slot: slot)
                            }
                            for c in 1..<chunks {
                                for i in 0..<(B * d) { partialDS[i] += partialDS[c * B * d + i] }
                            }
                            passes.oneHotCorrections(into: partialDS)
                        }
                    }
                }
            }
        }
        // A sparse head (a sampled objective's) trained by the full softmax: every row moved
        // (`grad` of a sparse parameter touches every row when written).
        let dS = Matrix(rows: B, cols: d, elements: Array(UnsafeBufferPointer(start: partialDS, count: B * d)))
        let end = DispatchTime.now().uptimeNanoseconds
        lastCrossEntropySeconds = (Double(middle - start) / 1e9, Double(end - middle) / 1e9)
        return (lossOut, dS)
    }

    /// Adds the rows of `columns`' items (ids 1...N) to a sparse head's touched rows.
    func markTouched(_ columns: [[Int]]) {
        for p in [weight, bias] where p.isSparse { for cols in columns { for id in cols { p.touch(id - 1) } } }
    }

    /// Makes the head's gradients sparse (only the rows of the items a loss touched are filled,
    /// cleared and, with a lazy optimiser, updated) or dense again; call before an optimiser is
    /// made for it. The gradients are cleared.
    public func setSparseGradients(_ sparse: Bool) {
        weight.setSparse(sparse)
        bias.setSparse(sparse)
    }

    /// Runs `body(chunk, slot)` for every chunk on up to `workers` threads, chunks handed out as
    /// workers free up; `slot` (0..<workers) names the worker's buffers.
    static func forEachChunk(_ chunks: Int, workers: Int, _ body: (Int, Int) -> Void) {
        let slots = Atomic<Int>(0)
        Threading.parallelFor(
            chunks: chunks, parallelism: .threads(workers),
            scratch: { slots.add(1, ordering: .relaxed).oldValue }, release: { _ in },
            body: { c, slot in body(c, slot) })
    }

    /// Logits of selected columns: `columns[b]` lists item ids (1...N) for row b.
    public func logits(states: Matrix, columns: [[Int]]) -> [[Float]] {
        let d = dim
        return states.withUnsafeBufferPointer { sp in
            weight.value.withUnsafeBufferPointer { wp in
                bias.value.withUnsafeBufferPointer { bp in
                    columns.enumerated().map { b, cols in
                        cols.map { id in
                            let i = id - 1
                            var acc = bp[i]
                            for j in 0..<d { acc += sp[b * d + j] * wp[i * d + j] }
                            return acc
                        }
                    }
                }
            }
        }
    }

    /// Backward of selected columns: accumulates dW rows and db for the touched items only and
    /// returns dS. `dLogits[b][c]` is the gradient of the logit of `columns[b][c]`. A sparse
    /// head's touched rows gain the columns' rows.
    public func backward(states: Matrix, columns: [[Int]], dLogits: [[Float]]) -> Matrix {
        let d = dim
        markTouched(columns)
        var dS = Matrix(rows: states.rows, cols: d)
        states.withUnsafeBufferPointer { sp in
            weight.value.withUnsafeBufferPointer { wp in
                weight.withGradientRows { gwRow in
                    bias.withGradientRows { gbRow in
                        dS.withUnsafeMutableBufferPointer { ds in
                            for (b, cols) in columns.enumerated() {
                                for (c, id) in cols.enumerated() {
                                    let i = id - 1
                                    let g = dLogits[b][c]
                                    gbRow(i)[0] += g
                                    let gw = gwRow(i)
                                    for j in 0..<d {
                                        gw[j] += g * sp[b * d + j]
                                        ds[b * d + j] += g * wp[i * d + j]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dS
    }
}

extension CatalogHead {
    /// Squared TD error on selected columns: loss = (1/B) Σ_b (Q(s_b, a_b) − y_b)² with the
    /// targets y held constant (a TD loss). Touches only the B action columns of the head:
    /// accumulates their dW rows and db entries and returns dS.
    /// - Throws: `.itemOutOfRange` for an action outside 1...N.
    /// - Precondition: one action and one target per state.
    public func squaredTDError(states: Matrix, actions: [Int], targets: [Float]) throws(RecNNError) -> (
        loss: Double, dStates: Matrix
    ) {
        let B = states.rows
        precondition(
            actions.count == B && targets.count == B,
            "squaredTDError: \(B) states, \(actions.count) actions, \(targets.count) targets")
        for (b, a) in actions.enumerated() where a < 1 || a > items {
            throw .itemOutOfRange(id: a, position: b, vocabulary: items + 1)
        }
        let cols = actions.map { [$0] }
        let q = logits(states: states, columns: cols)
        var loss = 0.0
        var g = [[Float]]()
        for b in 0..<B {
            let e = q[b][0] - targets[b]
            loss += Double(e * e)
            g.append([2 * e / Float(B)])
        }
        return (loss / Double(B), backward(states: states, columns: cols, dLogits: g))
    }
}
