import Foundation
import RecCore
import RecNN
import RecRL
import Testing

/// A `ProcessGroup` of threads in this process (what MPI ranks do, without MPI): each
/// collective waits for every member, then each member adds the contributions pairwise in
/// rank order, ((r₀ + r₁) + (r₂ + r₃)) + … (MPI's sum for two ranks is r₀ + r₁).
final class ThreadGroup: ProcessGroup, @unchecked Sendable {
    final class Hub: @unchecked Sendable {
        let size: Int
        let condition = NSCondition()
        var slots: [Any?], snapshot: [Any?] = []
        var arrived = 0, generation = 0
        init(size: Int) {
            self.size = size
            slots = Array(repeating: nil, count: size)
        }

        func exchange(_ rank: Int, _ value: Any) -> [Any] {
            condition.lock()
            defer { condition.unlock() }
            slots[rank] = value
            arrived += 1
            let mine = generation
            if arrived == size {
                snapshot = slots
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
            return snapshot.map { $0! }
        }
    }
    let hub: Hub
    let rank: Int
    var size: Int { hub.size }
    init(hub: Hub, rank: Int) {
        self.hub = hub
        self.rank = rank
    }

    func sum<T: FloatingPoint>(_ values: UnsafeMutableBufferPointer<T>) {
        let all = hub.exchange(rank, Array(values)).map { $0 as! [T] }
        for i in values.indices {
            var level = all.map { $0[i] }
            while level.count > 1 {
                level = stride(from: 0, to: level.count, by: 2).map {
                    $0 + 1 < level.count ? level[$0] + level[$0 + 1] : level[$0]
                }
            }
            values[i] = level[0]
        }
    }
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws(RecRLError) { sum(values) }
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws(RecRLError) { sum(values) }
    func allGather(_ values: [Int32]) throws(RecRLError) -> [[Int32]] {
        hub.exchange(rank, values).map { $0 as! [Int32] }
    }
    func allGather(_ values: [Float]) throws(RecRLError) -> [[Float]] {
        hub.exchange(rank, values).map { $0 as! [Float] }
    }

    /// Runs `body(group)` on `size` threads and returns their results in rank order.
    static func run<T>(size: Int, _ body: @escaping @Sendable (ThreadGroup) throws -> T) throws -> [T] {
        let hub = Hub(size: size)
        let box = ResultBox<T>(size)
        let done = DispatchGroup()
        let lock = NSLock()
        for r in 0..<size {
            done.enter()
            let t = Thread {
                let result = Result { try body(ThreadGroup(hub: hub, rank: r)) }
                lock.lock()
                box.results[r] = result
                lock.unlock()
                done.leave()
            }
            t.stackSize = 8 << 20
            t.start()
        }
        done.wait()
        return try box.results.map { try $0!.get() }
    }
}

final class ResultBox<T>: @unchecked Sendable {
    var results: [Result<T, Error>?]
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}

/// ‖a − b‖ / ‖b‖ over a tensor (Euclidean norms; 0 when both are 0).
func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
    var d = 0.0
    var n = 0.0
    for (x, y) in zip(a, b) {
        d += Double(x - y) * Double(x - y)
        n += Double(y) * Double(y)
    }
    return d == 0 ? 0 : (d / max(n, 1e-300)).squareRoot()
}

@Suite struct DataParallelTrainingTests {
    /// Trains `steps` steps on batches of `batch` (the last batch of the data is short) and
    /// returns every network's parameters (and the trainer's traffic).
    static func train(
        _ alg: Algorithm, items: Int, ranks: Int?, steps: Int, batch: Int, parts: Int = 2,
        rankDropoutSeed: (Int, UInt64)? = nil, objective: SupervisedObjective = .softmax, shared: Bool = true
    )
        throws -> (parameters: [[Float]], traffic: GradientTraffic)
    {
        let data = try syntheticData(sessions: 60, items: items, seed: 11)
        let tr = try Transitions(data, length: 4)
        let config = {
            var c = smallConfig(alg, items: data.itemCount)
            c.dropout = 0.3
            c.dim = 16
            return c
        }()
        let body: @Sendable (ProcessGroup?) throws -> ([[Float]], GradientTraffic) = { group in
            let model = SequentialRecommender(
                config: config, itemKeys: data.itemKeys, eventTypes: data.eventTypes, seed: 9)
            var st = TrainingSettings()
            st.negatives = 3
            st.warmupSteps = steps / 2
            st.seed = 5
            st.batch = batch
            st.batchParts = parts
            st.objective = objective
            st.sharedNegatives = shared
            if let (rank, seed) = rankDropoutSeed, rank == group?.rank { st.dropoutSeed = seed }
            let trainer = Trainer(model: model, settings: st, totalSteps: steps, group: group)
            var start = 0
            for _ in 0..<steps {
                let end = min(tr.count, start + batch)
                try trainer.train(tr, batch: Array(start..<end))
                start = end == tr.count ? 0 : end
            }
            return (model.networks.flatMap { $0.parameters.map(\.value.storage) }, trainer.traffic)
        }
        guard let ranks else { return try body(nil) }
        let results = try ThreadGroup.run(size: ranks) { try body($0) }
        // Every rank holds the same parameters, bit for bit.
        for r in results.dropFirst() { #expect(r.0 == results[0].0) }
        return results[0]
    }

    /// R processes computing their parts of each batch end with the parameters of one process,
    /// bit for bit: dropout masks, negatives and coin flips come from the step and the sample's
    /// index in the batch, the losses are means over the batch, and the parts' gradients are
    /// added in one fixed order (here the group adds in rank order, as MPI does for two ranks).
    @Test(arguments: [
        (Algorithm.ce, 30, 2, 2), (.sqn, 30, 2, 2), (.sa2c, 30, 2, 2), (.sa2c, 2000, 2, 4), (.snqn, 2000, 2, 2),
        (.sqn, 2000, 3, 6), (.ce, 2000, 4, 4), (.sac, 2000, 2, 8),
    ])
    func processesGiveTheSingleProcessParameters(alg: Algorithm, items: Int, ranks: Int, parts: Int) throws {
        let steps = 24
        let batch = 37
        let one = try Self.train(alg, items: items, ranks: nil, steps: steps, batch: batch, parts: parts)
        let many = try Self.train(alg, items: items, ranks: ranks, steps: steps, batch: batch, parts: parts)
        let worst = zip(many.parameters, one.parameters).map { relativeDifference($0, $1) }.max() ?? 0
        let same = many.parameters == one.parameters
        #expect(same, "largest relative difference \(worst)")
        #expect(many.traffic.steps == steps)
    }

    /// The sampled objectives too: negatives drawn by (seed, step, sample), the sparse head's
    /// touched rows gathered across processes, lazy Adam on the same rows.
    @Test(arguments: [
        (Algorithm.ce, SupervisedObjective.gbce(negatives: 7, t: 0.75, sampler: .uniform), 2, 2, false),
        (.sa2c, .sampledSoftmax(negatives: 5, sampler: .popularity(alpha: 0.5)), 2, 4, false),
        (.ce, .sampledSoftmax(negatives: 9, sampler: .uniform), 4, 4, true),
        (.snqn, .gbce(negatives: 30, t: 0.5, sampler: .popularity(alpha: 1)), 2, 2, true),
        (.ce, .sampledSoftmax(negatives: 4, sampler: .inBatch), 2, 4, true),
        (.sa2c, .sampledSoftmax(negatives: 6, sampler: .mixed), 2, 2, true),
    ])
    func sampledObjectivesGiveTheSingleProcessParameters(
        alg: Algorithm, objective: SupervisedObjective, ranks: Int, parts: Int, shared: Bool
    ) throws {
        let one = try Self.train(
            alg, items: 2000, ranks: nil, steps: 12, batch: 37, parts: parts, objective: objective, shared: shared)
        let many = try Self.train(
            alg, items: 2000, ranks: ranks, steps: 12, batch: 37, parts: parts, objective: objective, shared: shared)
        let worst = zip(many.parameters, one.parameters).map { relativeDifference($0, $1) }.max() ?? 0
        #expect(many.parameters == one.parameters, "largest relative difference \(worst)")
        // The objective changed the training (the comparison is not of two full-softmax runs).
        let full = try Self.train(alg, items: 2000, ranks: nil, steps: 12, batch: 37, parts: parts)
        #expect(full.parameters != one.parameters)
    }

    /// A batch in more parts is another (equally valid) computation: the parameters agree to
    /// rounding, not to the bit; and a group that does not divide the parts is refused.
    @Test func partsChangeRoundingOnly() throws {
        let two = try Self.train(.sqn, items: 2000, ranks: nil, steps: 4, batch: 37, parts: 2)
        let four = try Self.train(.sqn, items: 2000, ranks: nil, steps: 4, batch: 37, parts: 4)
        let worst = zip(four.parameters, two.parameters).map { relativeDifference($0, $1) }.max() ?? 0
        #expect(worst > 0 && worst < 1e-4, "relative difference \(worst)")
        #expect(throws: RecRLError.self) { try Self.train(.ce, items: 30, ranks: 3, steps: 1, batch: 37, parts: 2) }
    }

    /// The comparison above sees a different dropout mask: one rank drawing its masks from
    /// another seed ends far from the single process.
    @Test func aRankWithAnotherDropoutMaskDiffers() throws {
        let one = try Self.train(.sqn, items: 30, ranks: nil, steps: 10, batch: 32)
        let many = try Self.train(.sqn, items: 30, ranks: 2, steps: 10, batch: 32, rankDropoutSeed: (1, 777))
        let worst = zip(many.parameters, one.parameters).map { relativeDifference($0, $1) }.max() ?? 0
        #expect(worst > 1e-3, "a different dropout mask on rank 1 left the parameters within \(worst)")
    }

    /// With a catalog much larger than a batch touches, the item embedding and the Q head's
    /// rows travel as (ids, rows): less than half the dense bytes, the same parameters (checked above).
    @Test func sparseGradientsSendLessThanDense() throws {
        let t = try Self.train(.sqn, items: 2000, ranks: 2, steps: 4, batch: 16).traffic
        #expect(t.sentBytes * 2 < t.denseBytes, "sent \(t.sentBytes) bytes, dense \(t.denseBytes)")
    }

    /// Dropout masks are per sample: encoding a batch in two parts (with their first sample
    /// indices) gives the rows of encoding it whole.
    @Test func dropoutMasksDependOnTheSampleIndexOnly() throws {
        var c = SASRec.Config(items: 50)
        c.length = 6
        c.dim = 16
        c.blocks = 2
        c.dropout = 0.4
        let model = SASRec(config: c, seed: 3)
        var g = Xoshiro256(seed: 8)
        let seqs = (0..<9).map { _ in (0..<6).map { _ in Int(g.next() % 51) } }
        let whole = try model.forward(seqs, training: true, seed: 21).states
        let head = try model.forward(Array(seqs[0..<4]), training: true, seed: 21).states
        let tail = try model.forward(Array(seqs[4...]), training: true, seed: 21, firstSample: 4).states
        let shifted = try model.forward(Array(seqs[4...]), training: true, seed: 21).states
        for b in 0..<9 {
            let part = b < 4 ? head.row(b) : tail.row(b - 4)
            #expect(zip(part, whole.row(b)).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        }
        // Without its offset the tail draws the head's masks: other values.
        #expect(shifted.row(0) != tail.row(0))
    }
}
