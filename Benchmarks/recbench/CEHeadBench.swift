import ArgumentParser
import Foundation
import RecCore
import RecNN

/// The catalog head's softmax cross-entropy alone (forward and backward over N items for B
/// states: what a training step's part spends most of its time in), and its logits kernel alone
/// (`CatalogLogits.transposed` over the whole catalog), each against the FMA peak.
struct CEHeadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ce-head",
        abstract: "Catalog head: softmax cross-entropy forward + backward over N items, and its logits kernel alone.")
    @OptionGroup var common: CommonOptions
    @Option(
        help: """
            Items per block of the cross-entropy passes (CatalogHead.blockItems), comma-separated: \
            with several, the repetitions alternate between them and each row gives its median \
            ratio to the first, rep by rep.
            """)
    var blockItems: String = "256"

    func run() throws {
        let b = common.batch ?? 128
        let d = common.dim ?? 64
        let n = common.items ?? 100_000
        let sizes = try blockItems.split(separator: ",").map { (s: Substring) throws -> Int in
            guard let v = Int(s), v > 0 else {
                throw ValidationError("--block-items: '\(s)' is not a positive integer")
            }
            return v
        }
        let head = CatalogHead(name: "head", items: n, dim: d, seed: common.seed)
        head.blockItems = sizes[0]
        var g = Xoshiro256(seed: common.seed &+ 1)
        let states = Matrix(rows: b, cols: d, elements: (0..<(b * d)).map { _ in Float(Sampling.normal(&g)) })
        let targets = (0..<b).map { _ in 1 + Int(g.next() % UInt64(n)) }
        let params: [(String, Any)] = [("batch", b), ("dim", d), ("items", n)]
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            // The kernel alone, on one thread (as a training part runs it).
            if t == 1 {
                let ld = CatalogLogits.leadingDimension(states: b)
                var st = [Float](repeating: 0, count: d * ld)
                for r in 0..<b { for k in 0..<d { st[k * ld + r] = states[r, k] } }
                let blockItems = head.blockItems
                var zt = [Float](repeating: 0, count: blockItems * ld)
                var m = Measurement(
                    name: "ce-head.logits_kernel", params: params + [("block_items", blockItems), ("ld", ld)],
                    timesMs: timeit(reps: common.reps) {
                        head.weight.value.withUnsafeBufferPointer { wp in
                            head.bias.value.withUnsafeBufferPointer { bp in
                                st.withUnsafeBufferPointer { sp in
                                    zt.withUnsafeMutableBufferPointer { zp in
                                        var j0 = 0
                                        while j0 < n {
                                            CatalogLogits.transposed(
                                                weights: wp.baseAddress!, bias: bp.baseAddress!,
                                                items: j0..<min(n, j0 + blockItems), dimension: d,
                                                statesT: sp.baseAddress!, ld: ld, states: b, into: zp.baseAddress!)
                                            j0 += blockItems
                                        }
                                    }
                                }
                            }
                        }
                    }, threads: 1)
                m.extra = Probes.efficiency(flops: Flops.score(batch: b, items: n, dim: d), ms: m.medianMs, threads: 1)
                out.append(m)
            }
            out += try crossEntropy(
                head: head, states: states, targets: targets, blockSizes: sizes, threads: t, params: params)
        }
        report(out, format: common.format)
    }

    /// The whole cross-entropy (forward and backward) on `t` threads, one row per block size,
    /// repetitions alternating between the sizes (a slow minute on the host weighs on each
    /// alike); each row after the first also gives the median over repetitions of its time over
    /// the first's in the same repetition.
    func crossEntropy(
        head: CatalogHead, states: Matrix, targets: [Int], blockSizes choices: [Int], threads t: Int,
        params: [(String, Any)]
    ) throws -> [Measurement] {
        var times = [[Double]](repeating: [], count: choices.count)
        var forward = times
        var backward = times
        for rep in 0..<(common.reps + 1) {
            for (i, choice) in choices.enumerated() {
                head.blockItems = choice
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try head.crossEntropy(states: states, targets: targets, parallelism: .threads(t))
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                head.zeroGrad()
                guard rep > 0 else { continue }  // the first is a warm-up
                times[i].append(ms)
                forward[i].append(head.lastCrossEntropySeconds.forward * 1e3)
                backward[i].append(head.lastCrossEntropySeconds.backward * 1e3)
            }
        }
        let b = states.rows
        return choices.indices.map { i in
            var m = Measurement(
                name: "ce-head.cross_entropy", params: params + [("block_items", choices[i])],
                timesMs: times[i], threads: t)
            m.extra = [("ms_forward", median(forward[i])), ("ms_backward", median(backward[i]))]
            if i > 0 { m.extra.append(("ratio_to_first", median(zip(times[i], times[0]).map { $0 / $1 }))) }
            m.extra += Probes.efficiency(
                flops: Flops.softmaxHead(batch: b, items: head.items, dim: head.dim), ms: m.medianMs, threads: t)
            return m
        }
    }
}
