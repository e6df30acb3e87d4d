import Foundation
import RecCore
import RecOPE
import Testing

/// The distributed evaluation is the single pass: any split of the rows into shards, read in any
/// order and merged in any order, gives the same report.
@Suite struct ShardedEvaluationTests {
    /// Random logs with context columns, propensities from a logging policy, clicks from a
    /// position-dependent rate; sizes chosen to straddle chunk boundaries.
    static func randomLogs(rows: Int, items: Int, depth: Int, seed: UInt64) throws -> (LoggedData, RankMarginals) {
        var g = Xoshiro256(seed: seed)
        let logging = try PlackettLuce(scores: (0..<items).map { _ in Sampling.normal(&g) }, temperature: 1)
            .exactMarginals(k: depth)
        var it = [Int]()
        var pos = [Int]()
        var rew = [Double]()
        var prop = [Double]()
        var ctx = [Int]()
        for j in 0..<rows {
            let k = j % depth
            var a = 0
            var u = Sampling.uniform(&g)
            while a < items - 1 && u >= logging.probability(item: a, rank: k) {
                u -= logging.probability(item: a, rank: k)
                a += 1
            }
            it.append(a)
            pos.append(k)
            prop.append(logging.probability(item: a, rank: k))
            let c = Int(Sampling.uniform(&g) * 3)
            ctx.append(c)
            rew.append(Sampling.uniform(&g) < 0.05 + 0.1 * Double(a % 3) / Double(k + 1) + 0.05 * Double(c) ? 1 : 0)
        }
        let logs = try LoggedData(
            items: it, positions: pos, rewards: rew, propensities: prop, contexts: ctx, source: "random.csv")
        return (logs, logging)
    }

    /// Rows `rows` of the logs as one chunk, keyed as the whole log keys them.
    static func chunk(_ logs: LoggedData, _ rows: [Int]) -> LogChunk {
        var c = LogChunk(source: logs.source)
        c.items = rows.map { logs.items[$0] }
        c.positions = rows.map { logs.positions[$0] }
        c.rewards = rows.map { Double(logs.rewards[$0]) }
        c.propensities = logs.propensities.map { p in rows.map { p[$0] } }
        let key = RowHash.key(bytes: logs.source.utf8)
        c.rowKeys = rows.map { LogReader.defaultKey(sourceKey: key, row: $0 + 1) }
        c.lines = rows.map { $0 + 1 }
        c.contexts = logs.contextFeatures.indices.map { f in
            LogChunk.Context(
                name: logs.contextFeatureNames[f], ids: rows.map { logs.contextFeatures[f][$0] },
                values: logs.contextFeatureValues[f])
        }
        return c
    }

    /// Every pass: each shard reads its rows (in chunks of random size), writes its state through
    /// JSON, and the states merge in a shuffled order.
    static func sharded(_ ev: OffPolicyEvaluator, _ logs: LoggedData, shards: [[Int]], g: inout Xoshiro256) throws
        -> OfflineABReport
    {
        var state = ev.initialState()
        while state.pass != .done {
            var parts = [OffPolicyState]()
            for rows in shards {
                var acc = try ev.accumulator(for: state)
                var start = 0
                while start < rows.count {
                    let n = 1 + Int(Sampling.uniform(&g) * 40)
                    try acc.add(chunk(logs, Array(rows[start..<min(rows.count, start + n)])))
                    start += n
                }
                parts.append(try OffPolicyState.decode(try acc.finishedState().encoded(), file: "shard"))
            }
            parts.shuffle(using: &g)
            state = try OffPolicyState.merge(parts).advanced()
        }
        return try state.report()
    }

    static func close(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN && b.isNaN { return true }
        return abs(a - b) <= 1e-12 * max(abs(a), abs(b)) + 1e-300
    }

    static func expectSame(_ a: OfflineABReport, _ b: OfflineABReport, _ label: String) {
        #expect(a.rows == b.rows && a.passes == b.passes, "\(label): rows or passes differ")
        for (ea, eb) in zip(a.evaluations, b.evaluations) {
            #expect(ea.estimates.count == eb.estimates.count, "\(label): estimate lists differ")
            for (x, y) in zip(ea.estimates, eb.estimates) {
                #expect(x.label == y.label && x.cap == y.cap)
                #expect(
                    close(x.value, y.value) && close(x.normal.low, y.normal.low) && close(x.normal.high, y.normal.high),
                    "\(label) \(x.label) \(x.cap ?? .nan): \(x.value) [\(x.normal.low), \(x.normal.high)] vs \(y.value) [\(y.normal.low), \(y.normal.high)]"
                )
                #expect(
                    x.method == y.method && x.interval == y.interval && x.likelihood == y.likelihood,
                    "\(label) \(x.label): bootstrap \(x.interval) vs \(y.interval)")
            }
            #expect(close(ea.diagnostics.effectiveSampleSize, eb.diagnostics.effectiveSampleSize))
            #expect(
                ea.diagnostics.maxWeight == eb.diagnostics.maxWeight
                    && ea.diagnostics.shareAboveCap == eb.diagnostics.shareAboveCap
                    && ea.diagnostics.weightHistogram == eb.diagnostics.weightHistogram
                    && ea.diagnostics.weightHistogram != nil)
        }
    }

    /// Random logs, a Thompson-sampling target over their 7 items and settings with every pass
    /// (caps 1.5 and 4, pieces by position, context and value model, DRos, sub-Gaussian, SLOPE, MIPS).
    static func evaluationCase(seed: Int, rows: Int, bootstrap: Int) throws -> (
        logs: LoggedData, logging: RankMarginals, target: RankMarginals, settings: EvaluationSettings
    ) {
        let (logs, logging) = try randomLogs(rows: rows, items: 7, depth: 3, seed: UInt64(seed))
        let target = try ThompsonSampling(alpha: [3, 2, 5, 1, 4, 2, 2], beta: [20, 20, 20, 20, 20, 20, 20])
            .exactMarginals(k: 3)
        var settings = EvaluationSettings()
        settings.caps = [1.5, 4]
        settings.bootstrap = bootstrap
        settings.seed = UInt64(seed)
        settings.pieceGroupings = [.position, .contextFeature("context"), .valueModel(buckets: 3)]
        settings.shrinkage = [1, .infinity]
        settings.subGaussian = [0.2]
        settings.slope = true
        settings.likelihood = .reported
        settings.balanced = 0.5
        let csv = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-embed-\(seed)-\(rows).csv").path
        try "item_id,kind\n0,a\n1,b\n2,a\n3,c\n4,b\n5,a\n6,c\n".write(toFile: csv, atomically: true, encoding: .utf8)
        settings.itemEmbeddings = try ItemFeatures.load(csv: csv)
        return (logs, logging, target, settings)
    }

    @Test(arguments: [(1, 37), (2, 129), (3, 500), (4, 1001)])
    func shardsGiveTheSinglePass(seed: Int, rows: Int) throws {
        let (logs, logging, target, settings) = try Self.evaluationCase(seed: seed, rows: rows, bootstrap: 64)
        let ev = try OffPolicyEvaluator(
            targets: [
                TargetPolicy(name: "ts", marginals: [target]), TargetPolicy(name: "logging", marginals: [logging]),
            ],
            logging: [logging], settings: settings)
        let single = try OfflineEvaluation.evaluate(
            logs: logs, policies: ev.targets, targetStates: nil, logging: [logging],
            loggingState: nil, settings: settings)
        #expect(single.passes >= 4, "ratios, reward models, Newton, logistic: \(single.passes) passes")
        #expect(single.evaluations[0].estimate(.DR, model: .logistic) != nil)
        #expect(single.evaluations[0].estimate(.MIPS) != nil && single.evaluations[0].estimate(.DRos) != nil)
        #expect(single.evaluations.allSatisfy { $0.estimate(.BIPW) != nil })
        for e in single.evaluations {
            let s = e.estimate(.IS)
            #expect(s?.likelihood != nil && s?.method == .empiricalLikelihood, "\(e.policy): no likelihood interval")
            for m in [RewardModelKind.ctr, .logistic] {
                #expect(e.estimate(.DR, model: m)?.likelihood != nil, "\(e.policy): no DR (\(m)) likelihood interval")
            }
            // The interval is the policy value's: every (w, r) estimator shows IS's, every doubly
            // robust one its model's DR interval, reported as the interval; DM and MIPS none.
            for x in e.estimates {
                let expected: Interval?
                switch x.estimator {
                case .IS, .SNIPS, .CIS, .NCIS, .pieceNCIS, .pointNCIS, .SubGaussianIPW: expected = s?.likelihood
                case .DR, .SNDR, .SwitchDR, .DRos, .SubGaussianDR:
                    expected = e.estimate(.DR, model: x.model!)?.likelihood
                default: expected = nil
                }
                #expect(x.likelihood == expected, "\(e.policy) \(x.label): \(String(describing: x.likelihood))")
                if expected != nil { #expect(x.method == .empiricalLikelihood && x.interval == expected) }
            }
            #expect(e.estimates.contains { $0.estimator == .NCIS && $0.likelihood != nil })
        }
        var g = Xoshiro256(seed: UInt64(seed) &* 77)
        for trial in 0..<4 {
            let count = 1 + Int(Sampling.uniform(&g) * 8)
            var shards = [[Int]](repeating: [], count: count)
            for j in (0..<rows).shuffled(using: &g) { shards[Int(Sampling.uniform(&g) * Double(count))].append(j) }
            let merged = try Self.sharded(ev, logs, shards: shards, g: &g)
            Self.expectSame(single, merged, "seed \(seed), trial \(trial), \(count) shards")
        }
    }

    /// States that disagree on settings, passes or earlier results do not merge, and the error
    /// names what differs; truncated or foreign files are refused.
    @Test func mismatchedStatesAreRefused() throws {
        let (logs, logging) = try Self.randomLogs(rows: 60, items: 5, depth: 2, seed: 9)
        var s = EvaluationSettings()
        s.bootstrap = 8
        let ev = try OffPolicyEvaluator(
            targets: [TargetPolicy(name: "l", marginals: [logging])], logging: nil, settings: s)
        var acc = try ev.accumulator(for: ev.initialState())
        try acc.add(Self.chunk(logs, Array(0..<60)))
        let a = acc.finishedState()
        var s2 = s
        s2.seed = 2
        let ev2 = try OffPolicyEvaluator(
            targets: [TargetPolicy(name: "l", marginals: [logging])], logging: nil, settings: s2)
        let b = try ev2.accumulator(for: ev2.initialState()).finishedState()
        #expect(throws: RecOPEError.invalidParameter("state 2 was made with different seed (2 against 1)")) {
            try OffPolicyState.merge([a, b])
        }
        var s3 = s
        s3.caps = [3]
        let ev3 = try OffPolicyEvaluator(
            targets: [TargetPolicy(name: "l", marginals: [logging])], logging: nil, settings: s3)
        #expect(throws: RecOPEError.self) {
            try OffPolicyState.merge([a, try ev3.accumulator(for: ev3.initialState()).finishedState()])
        }
        let next = try OffPolicyState.merge([a]).advanced()
        #expect(throws: RecOPEError.self) { try OffPolicyState.merge([a, next]) }
        #expect(throws: RecOPEError.self) { try ev2.accumulator(for: next) }
        let data = try a.encoded()
        #expect(throws: RecOPEError.self) { try OffPolicyState.decode(data.prefix(data.count / 2), file: "half") }
        #expect(throws: RecOPEError.self) {
            try OffPolicyState.decode(Data("{\"format\": \"other\"}".utf8), file: "foreign")
        }
        #expect(throws: RecOPEError.self) { try next.report() }
        #expect(try OffPolicyState.decode(data, file: "whole") == a)
        // The weight histogram: a file whose histogram has another size is refused; a state
        // written before histograms existed (none) merges, and the merge has none.
        var wrong = a
        wrong.policies[0].weights.histogram = [1, 2, 3]
        #expect {
            _ = try OffPolicyState.decode(try wrong.encoded(), file: "wrong")
        } throws: { error in "\(error)".contains("inconsistent state") }
        func shard(_ rows: Range<Int>) throws -> OffPolicyState {
            var acc = try ev.accumulator(for: ev.initialState())
            try acc.add(Self.chunk(logs, Array(rows)))
            return acc.finishedState()
        }
        let (first, second) = (try shard(0..<30), try shard(30..<60))
        var old = second
        old.policies[0].weights.histogram = nil
        let oldBack = try OffPolicyState.decode(try old.encoded(), file: "old")
        #expect(oldBack.policies[0].weights.histogram == nil)
        #expect(try OffPolicyState.merge([first, oldBack]).policies[0].weights.histogram == nil)
        #expect(try OffPolicyState.merge([first, second]).policies[0].weights.histogram != nil)
    }

    /// 60 random rows and an evaluator of one target with 8 replicates.
    static func smallEvaluation(rewardModels: Bool) throws -> (LoggedData, OffPolicyEvaluator) {
        let (logs, logging) = try randomLogs(rows: 60, items: 5, depth: 2, seed: 9)
        var s = EvaluationSettings()
        s.bootstrap = 8
        s.rewardModels = rewardModels
        let ev = try OffPolicyEvaluator(
            targets: [TargetPolicy(name: "l", marginals: [logging])], logging: nil, settings: s)
        return (logs, ev)
    }

    /// Shard states carry their rows' identity and a checksum: the same shard twice (also under
    /// another file name), a later pass run twice on one shard or missing one, shards read with
    /// and without a row-key column, and an edited file are refused; empty shards merge freely.
    @Test func duplicatedMixedAndEditedShardsAreRefused() throws {
        let (logs, ev) = try Self.smallEvaluation(rewardModels: true)
        func shard(_ rows: Range<Int>, keyed: Bool = false, after: OffPolicyState? = nil, source: String? = nil)
            throws -> OffPolicyState
        {
            var acc = try ev.accumulator(for: after ?? ev.initialState())
            var c = Self.chunk(logs, Array(rows))
            if let source { c.source = source }
            if keyed {
                c.rowKeyed = true
                c.rowKeys = rows.map { UInt64($0) &* 7919 }
            }
            try acc.add(c)
            return acc.finishedState()
        }
        func refused(_ states: [OffPolicyState], _ text: String) {
            #expect {
                _ = try OffPolicyState.merge(states).advanced()
            } throws: { error in
                "\(error)".contains(text)
            }
        }
        let a = try shard(0..<30)
        let b = try shard(30..<60)
        let empty = try ev.accumulator(for: ev.initialState()).finishedState()
        refused([a, b, a], "the same rows merged twice")
        refused([a, try shard(0..<30, source: "renamed.csv"), b], "the same rows merged twice")
        refused([a, try shard(30..<60, keyed: true)], "read with a row-key column and state 1 without one")
        let merged = try OffPolicyState.merge([a, empty, b, empty])
        #expect(merged.rows == 60)
        // The second pass: every shard once.
        let next = try merged.advanced()
        let a2 = try shard(0..<30, after: next)
        let b2 = try shard(30..<60, after: next)
        refused([a2, b2, b2], "the same rows merged twice")
        refused([a2], "missing: 30 rows")
        refused([a2, try shard(30..<50, after: next)], "not in the earlier pass")
        #expect(try OffPolicyState.merge([b2, a2]).advanced().completedPasses == 2)
        // A file edited after writing: its checksum.
        let text = String(decoding: try a.encoded(), as: UTF8.self)
        let edited = text.replacingOccurrences(of: "\"rows\":30", with: "\"rows\":31")
        #expect(edited != text)
        #expect {
            _ = try OffPolicyState.decode(Data(edited.utf8), file: "edited")
        } throws: { error in
            "\(error)".contains("checksum does not match")
        }
        #expect(try OffPolicyState.decode(try a.encoded(), file: "whole") == a)
    }

    /// A row key with few distinct values draws a warning (the bootstrap resamples that many
    /// clusters); the distinct-key sketch merges across shards to what one process counts.
    @Test func fewRowKeysAreReported() throws {
        let (logs, ev) = try Self.smallEvaluation(rewardModels: false)
        func state(_ rows: Range<Int>, keys: Int) throws -> OffPolicyState {
            var acc = try ev.accumulator(for: ev.initialState())
            var c = Self.chunk(logs, Array(rows))
            c.rowKeyed = true
            c.rowKeys = rows.map { UInt64($0 % keys) }
            try acc.add(c)
            return acc.finishedState()
        }
        for keys in [3, 60] {
            let whole = try state(0..<60, keys: keys).advanced()
            let merged = try OffPolicyState.merge([state(0..<25, keys: keys), state(25..<60, keys: keys)]).advanced()
            #expect(whole.rowKeySketch == merged.rowKeySketch && whole.rowKeySketch.count == keys)
            let warned = try merged.report().warnings.contains { $0.contains("only \(keys) distinct values") }
            #expect(warned == (keys < OffPolicyState.fewRowKeys), "\(keys) keys")
        }
    }

    /// The Poisson(1) weights: the SIMD path equals the scalar reference, and over many rows their
    /// mean and variance are 1 within 4 standard errors.
    @Test func poissonWeights() throws {
        for count in [0, 1, 15, 16, 17, 31, 32, 33, 127, 128, 129, 1000] {
            var fast = [UInt8](repeating: 0, count: count)
            let base = RowHash.base(key: UInt64(count) &* 12345, seed: 3, purpose: 0xB007)
            RowHash.poissonThresholds.withUnsafeBufferPointer { t in
                fast.withUnsafeMutableBufferPointer { RowHash.poissonWeights(base: base, into: $0, thresholds: t) }
            }
            let naive = (0..<count).map { b -> UInt8 in
                let z = RowHash.mix(base &+ UInt64(b / 2 + 1) &* 0x9E37_79B9_7F4A_7C15)
                let u = b % 2 == 0 ? UInt32(truncatingIfNeeded: z) : UInt32(truncatingIfNeeded: z >> 32)
                return UInt8(RowHash.poissonThresholds.prefix(13).filter { u >= $0 }.count)
            }
            #expect(fast == naive, "count \(count)")
        }
        var sum = 0.0
        var sumSq = 0.0
        var zeros = 0.0
        let n = 200_000
        var w = [UInt8](repeating: 0, count: 100)
        for row in 0..<(n / 100) {
            RowHash.poissonThresholds.withUnsafeBufferPointer { t in
                w.withUnsafeMutableBufferPointer {
                    RowHash.poissonWeights(
                        base: RowHash.base(key: UInt64(row), seed: 1, purpose: 1), into: $0, thresholds: t)
                }
            }
            for x in w {
                sum += Double(x)
                sumSq += Double(x) * Double(x)
                if x == 0 { zeros += 1 }
            }
        }
        let mean = sum / Double(n)
        let variance = sumSq / Double(n) - mean * mean
        #expect(abs(mean - 1) < 4 * (1 / Double(n)).squareRoot(), "mean \(mean)")
        // Var of X² for Poisson(1) is 14 (E X⁴ = 15): the variance estimate's SE is about √(14/n).
        #expect(abs(variance - 1) < 4 * (14 / Double(n)).squareRoot(), "variance \(variance)")
        let p0 = exp(-1.0)
        #expect(abs(zeros / Double(n) - p0) < 4 * (p0 * (1 - p0) / Double(n)).squareRoot(), "P(0) \(zeros / Double(n))")
    }

    /// Exact sums do not depend on the order of their terms; compensated ones agree to an ulp.
    @Test func sumsAreOrderFree() {
        var g = Xoshiro256(seed: 4)
        let terms = (0..<10_000).map { _ in (Sampling.uniform(&g) - 0.3) * pow(10, Sampling.uniform(&g) * 12 - 6) }
        var a = ExactSum()
        var b = ExactSum()
        var ca = CompensatedSum()
        var cb = CompensatedSum()
        for t in terms {
            a.add(t)
            ca.add(t)
        }
        var parts = [ExactSum](repeating: ExactSum(), count: 7)
        var cparts = [CompensatedSum](repeating: CompensatedSum(), count: 7)
        for t in terms.shuffled(using: &g) {
            let i = Int(Sampling.uniform(&g) * 7)
            parts[i].add(t)
            cparts[i].add(t)
        }
        for p in parts.shuffled(using: &g) { b.add(p) }
        for p in cparts.shuffled(using: &g) { cb.add(p) }
        #expect(a == b)
        #expect(abs(ca.value - cb.value) <= 2 * ca.value.ulp)
        let reference = terms.map { Decimal($0) }.reduce(0, +)
        #expect(
            abs(a.value - NSDecimalNumber(decimal: reference).doubleValue) <= 1e-15 * abs(a.value),
            "exact sum \(a.value)")
    }
}
