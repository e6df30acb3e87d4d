import RecCore
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The processes of a data-parallel training run (MPI ranks, for example): every process holds
/// the whole model, takes its slice of each global batch, and the gradients and losses are
/// summed across the group before each optimiser step, so every process applies the same update
/// and the run gives the parameters one process gives with the same global batch.
///
/// RecKit does not link an MPI library; `integrations/mpi` implements this protocol over
/// OpenMPI. Implementations must give every process the same bits (a sum in a fixed order);
/// for R processes to end with one process's parameters bit for bit, the sum must also be the
/// trainer's order over the processes' parts, pairwise in rank order ((r₀ + r₁) + (r₂ + r₃)) + …
/// (MPI_Allreduce's sum of two ranks is r₀ + r₁; for more, MPI does not promise an order).
public protocol ProcessGroup: AnyObject {
    /// This process's index in 0..<size. Rank 0 writes checkpoints, metrics and progress.
    var rank: Int { get }
    /// Processes in the group.
    var size: Int { get }
    /// In-place element-wise sum over the group.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws(RecRLError)
    /// In-place element-wise sum over the group.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws(RecRLError)
    /// Every process's `values`, in rank order (the counts may differ).
    func allGather(_ values: [Int32]) throws(RecRLError) -> [[Int32]]
    /// Every process's `values`, in rank order (the counts may differ).
    func allGather(_ values: [Float]) throws(RecRLError) -> [[Float]]
}

/// Bytes one process sent for gradients: what went over the group, and what the dense tensors
/// would have taken (the payload of the reductions, before the transport's own factor: a ring
/// all-reduce moves 2(R − 1)/R of it per process).
public struct GradientTraffic: Sendable, Equatable, Codable {
    /// Steps counted.
    public var steps = 0
    /// Bytes of gradients this process sent, over all steps.
    public var sentBytes = 0
    /// Bytes dense gradients would have taken, over all steps.
    public var denseBytes = 0
    /// No traffic yet.
    public init() {}
    /// Bytes sent per step.
    public var sentPerStep: Double { steps == 0 ? 0 : Double(sentBytes) / Double(steps) }
    /// Bytes dense gradients would take per step.
    public var densePerStep: Double { steps == 0 ? 0 : Double(denseBytes) / Double(steps) }
}

/// Sums a network's gradients across a `ProcessGroup`. Dense gradients go in one all-reduce;
/// a gradient whose non-zero rows are known (an embedding's `touchedRows`, the Q-head rows a
/// TD step touched) is sent as (row ids, rows) when that is smaller than the dense tensor. The
/// result is the same either way: every process adds the contributions in rank order.
struct GradientReducer {
    /// A parameter's known non-zero rows (`rows` of `p.grad`'s rows).
    struct Sparse {
        let parameter: Parameter
        let rows: [Int]
    }

    static func reduce(
        _ parameters: [Parameter], sparse: [Sparse], group: ProcessGroup,
        traffic: inout GradientTraffic
    ) throws(RecRLError) {
        let sparseIDs = Set(sparse.map { ObjectIdentifier($0.parameter) })
        var all = parameters.filter { !sparseIDs.contains(ObjectIdentifier($0)) }
        var unions = [(Parameter, Set<Int>)]()
        for s in sparse {
            let p = s.parameter
            let c = p.rowLength
            let ids = try group.allGather(s.rows.map { Int32($0) })
            let union = Set(ids.joined().map { Int($0) })
            unions.append((p, union))
            // Sparse: an id (4 bytes) and a row (4c bytes) per touched row; dense: the whole tensor.
            let total = ids.reduce(0) { $0 + $1.count }
            let size = p.shape.rows * p.shape.cols
            guard total * (c + 1) < size else {
                all.append(p)
                continue
            }
            var mine = [Float]()
            mine.reserveCapacity(s.rows.count * c)
            for r in s.rows { mine.append(contentsOf: p.gradientRow(r)) }
            let rows = try group.allGather(mine)
            // Row by row, the processes' rows added pairwise in rank order (a process without
            // the row adds zeros): the bits of the dense sum.
            var position = [[Int32: Int]](repeating: [:], count: ids.count)
            for (rank, list) in ids.enumerated() { for (k, r) in list.enumerated() { position[rank][r] = k } }
            let order = union.sorted()
            var summed = [Float]()
            summed.reserveCapacity(order.count * c)
            var level = [[Float]](repeating: [Float](repeating: 0, count: c), count: ids.count)
            for row in order {
                for rank in ids.indices {
                    if let k = position[rank][Int32(row)] {
                        for j in 0..<c { level[rank][j] = rows[rank][k * c + j] }
                    } else {
                        for j in 0..<c { level[rank][j] = 0 }
                    }
                }
                summed.append(contentsOf: pairwiseSum(level) { a, b in zip(a, b).map { $0 + $1 } }!)
            }
            if p.isSparse {
                // The union's rows become every process's (for the optimiser and zeroGrad).
                p.replaceGradient(rows: order, values: summed)
            } else {
                p.withGradientRows { g in
                    for (k, row) in order.enumerated() { for j in 0..<c { g(row)[j] = summed[k * c + j] } }
                }
            }
            traffic.sentBytes += 4 * s.rows.count * (c + 1)
            traffic.denseBytes += 4 * size
        }
        let count = all.reduce(0) { $0 + $1.shape.rows * $1.shape.cols }
        var flat = [Float](repeating: 0, count: count)
        var o = 0
        for p in all {
            p.grad.withUnsafeBufferPointer { g in flat.replaceSubrange(o..<(o + g.count), with: g) }
            o += p.grad.count
        }
        try flat.withUnsafeMutableBufferPointer { b throws(RecRLError) in try group.allReduceSum(b) }
        o = 0
        for p in all {
            p.grad.withUnsafeMutableBufferPointer { g in _ = g.update(fromContentsOf: flat[o..<(o + g.count)]) }
            o += p.grad.count
        }
        // A sparse gradient summed densely (a small table): the union's rows become every
        // process's (for the optimiser and zeroGrad).
        for (p, union) in unions where p.isSparse && all.contains(where: { $0 === p }) {
            let order = union.sorted()
            var values = [Float]()
            values.reserveCapacity(order.count * p.rowLength)
            for r in order { values.append(contentsOf: p.gradientRow(r)) }
            p.replaceGradient(rows: order, values: values)
        }
        traffic.sentBytes += 4 * count
        traffic.denseBytes += 4 * count
    }
}
