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
    @Option(help: "Items per block of the cross-entropy passes (CatalogHead.blockItems).") var blockItems: Int = 256

    func run() throws {
        let b = common.batch ?? 128
        let d = common.dim ?? 64
        let n = common.items ?? 100_000
        let head = CatalogHead(name: "head", items: n, dim: d, seed: common.seed)
        head.blockItems = blockItems
        var g = Xoshiro256(seed: common.seed &+ 1)
        let states = Matrix(rows: b, cols: d, elements: (0..<(b * d)).map { _ in Float(Sampling.normal(&g)) })
        let targets = (0..<b).map { _ in 1 + Int(g.next() % UInt64(n)) }
        let params: [(String, Any)] = [("batch", b), ("dim", d), ("items", n), ("block_items", blockItems)]
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
                    name: "ce-head.logits_kernel", params: params + [("ld", ld)],
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
            var forward = [Double]()
            var backward = [Double]()
            var m = Measurement(
                name: "ce-head.cross_entropy", params: params,
                timesMs: timeit(reps: common.reps) {
                    _ = try! head.crossEntropy(states: states, targets: targets, parallelism: .threads(t))
                    forward.append(head.lastCrossEntropySeconds.forward * 1e3)
                    backward.append(head.lastCrossEntropySeconds.backward * 1e3)
                    head.zeroGrad()
                }, threads: t)
            let median = { (x: [Double]) in x.sorted()[x.count / 2] }
            m.extra = [("ms_forward", median(forward)), ("ms_backward", median(backward))]
            m.extra += Probes.efficiency(
                flops: Flops.softmaxHead(batch: b, items: n, dim: d), ms: m.medianMs, threads: t)
            out.append(m)
        }
        report(out, format: common.format)
    }
}
