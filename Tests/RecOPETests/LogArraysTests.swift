import Foundation
import RecCore
import RecOPE
import Testing

/// Rows given as columns read as the CSV reader reads the same rows: the same chunks (items,
/// 0-based positions, rewards, propensities, default row keys, context values per row), and the
/// same checks.
@Suite struct LogArraysTests {
    @Test func arraysGiveTheReadersChunks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logarrays-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var text = "item,pos,click,p,seg\n"
        var rng = Xoshiro256(seed: 4)
        for r in 0..<150_000 {
            text += "\(rng.next() % 40),\(1 + rng.next() % 3),\(rng.next() % 5 == 0 ? 1 : 0),0.0125,"
            text += r % 7 == 0 ? "\n" : "s\(rng.next() % 5)\n"
        }
        let path = dir.appendingPathComponent("logs.csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var cols = LogColumns(item: "item", position: "pos", reward: "click", propensity: "p", context: ["seg"])
        cols.positionBase = 1
        let reader = try LogReader(path: path, columns: cols)
        var want = [LogChunk]()
        while let c = try reader.next() { want.append(c) }
        // The same rows as columns (positions as logged, contexts as codes into values).
        var items = [Int64]()
        var positions = [Int64]()
        var rewards = [Double]()
        var props = [Double]()
        var codes = [Int32]()
        var values = [String]()
        var index = [String: Int32]()
        for c in want {
            items += c.items.map(Int64.init)
            positions += c.positions.map { Int64($0) + 1 }
            rewards += c.rewards
            props += c.propensities!
            for id in c.contexts[0].ids {
                let v = c.contexts[0].values[Int(id)]
                if index[v] == nil {
                    index[v] = Int32(values.count)
                    values.append(v)
                }
                codes.append(index[v]!)
            }
        }
        let arrays = try LogArrays(
            source: "somewhere/logs.csv", columns: cols, items: items, positions: positions, rewards: rewards,
            propensities: props, contexts: [.coded(.init(codes: codes, values: values))])
        let got = arrays.chunks()
        #expect(got.count == want.count && got.count == 3)
        #expect(arrays.depth == 3)
        for (g, w) in zip(got, want) {
            #expect(g.items == w.items && g.positions == w.positions && g.rewards == w.rewards)
            #expect(g.propensities == w.propensities && g.rowKeys == w.rowKeys && g.rowKeyed == w.rowKeyed)
            let gv = g.contexts[0].ids.map { g.contexts[0].values[Int($0)] }
            let wv = w.contexts[0].ids.map { w.contexts[0].values[Int($0)] }
            #expect(gv == wv)
        }
    }

    /// A slate log as columns (text slate ids, then integer ones): the reader's slate keys and
    /// probability columns, chunk by chunk, and the slate evaluation's report bit for bit, with
    /// the target as columns and with a Plackett–Luce target whose Cascade-DR fits its model in a
    /// first pass; a probability outside its range names the row and column.
    @Test func slateColumnsGiveTheReadersChunksAndReport() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logarrays-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var text = "sid,item,pos,click,p,pc,tp\n"
        var rng = Xoshiro256(seed: 9)
        var sids = [Int64]()
        var items = [Int64]()
        var positions = [Int64]()
        var rewards = [Double]()
        var props = [Double]()
        var cascade = [Double]()
        var target = [Double]()
        for s in 0..<30_000 {
            var c = 1.0
            for p in 0..<3 {
                c /= Double(8 - p)
                let item = Int64(p * 3) + Int64(rng.next() % 3)
                let click = rng.next() % 5 == 0 ? 1.0 : 0.0
                let t = Double(1 + rng.next() % 7) / 8
                text += "\(1000 + s),\(item),\(p),\(Int(click)),0.125,\(c),\(t)\n"
                sids.append(Int64(1000 + s))
                items.append(item)
                positions.append(Int64(p))
                rewards.append(click)
                props.append(0.125)
                cascade.append(c)
                target.append(t)
            }
        }
        let path = dir.appendingPathComponent("slates.csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var cols = LogColumns(item: "item", position: "pos", reward: "click", propensity: "p")
        cols.slate = "sid"
        cols.slateProbabilities = [.cascadePropensity: "pc", .targetPropensity: "tp"]
        let reader = try LogReader(path: path, columns: cols)
        var want = [LogChunk]()
        while let c = try reader.next() { want.append(c) }
        let texts = sids.map { String($0) }
        let asText = LogArrays.Column.coded(.init(codes: (0..<Int32(texts.count)).map { $0 }, values: texts))
        for slateColumn in [asText, .integers(.init(values: sids))] {
            var arrays = try LogArrays(
                source: "slates.csv", columns: cols, items: items, positions: positions, rewards: rewards,
                propensities: props)
            try arrays.setSlates(
                slateColumn,
                probabilities: [.cascadePropensity: LogValues(cascade), .targetPropensity: LogValues(target)])
            let got = arrays.chunks()
            #expect(got.count == want.count)
            for (g, w) in zip(got, want) {
                #expect(g.slates == w.slates && g.items == w.items && g.rewards == w.rewards)
                #expect(g.slateProbabilities == w.slateProbabilities)
            }
            let pl = try PlackettLuce(scores: (0..<9).map { 0.2 * Double($0) - 0.8 })
            let marginals = try pl.exactMarginals(k: 3)
            for targets in [[], [SlateTarget(name: "pl", policy: pl, marginals: marginals)]] {
                let fromFile = try SlateEvaluation.shard(
                    source: .file(path), columns: cols, targets: targets, bootstrap: 20, seed: 3,
                    rewardModel: !targets.isEmpty
                ).report()
                let fromRows = try SlateEvaluation.shard(
                    source: .rows(arrays), columns: cols, targets: targets, bootstrap: 20, seed: 3,
                    rewardModel: !targets.isEmpty
                ).report()
                #expect(fromRows.evaluations.map(\.estimates) == fromFile.evaluations.map(\.estimates))
                if !targets.isEmpty {
                    #expect(fromRows.evaluations[0].estimates.contains { $0.estimator == .CascadeDR })
                }
            }
        }
        var bad = try LogArrays(
            source: "t", columns: cols, items: items, positions: positions, rewards: rewards, propensities: props)
        var wrong = target
        wrong[4] = 1.5
        #expect(
            throws: RecOPEError.malformedFile(
                file: "t", line: nil, message: "row 5: column 'tp': target_propensity '1.5' must be a number in [0, 1]")
        ) {
            try bad.setSlates(
                .integers(.init(values: sids)),
                probabilities: [.cascadePropensity: LogValues(cascade), .targetPropensity: LogValues(wrong)])
        }
        #expect(throws: RecOPEError.self) {
            try bad.setSlates(.integers(.init(values: sids)), probabilities: [.targetPropensity: LogValues(target)])
        }
    }

    @Test func badValuesNameTheRowAndColumn() {
        let cols = LogColumns(item: "item", position: "pos", reward: "click", propensity: "p", positionBase: 1)
        func make(
            _ items: [Int64] = [0, 1], _ pos: [Int64] = [1, 2], _ r: [Double] = [0, 1], _ p: [Double] = [0.5, 0.5]
        )
            throws(RecOPEError)
        {
            _ = try LogArrays(source: "t", columns: cols, items: items, positions: pos, rewards: r, propensities: p)
        }
        #expect(
            throws: RecOPEError.malformedFile(
                file: "t", line: nil, message: "row 2: column 'item': '-1' is not a non-negative integer item id")
        ) { try make([0, -1]) }
        #expect(
            throws: RecOPEError.malformedFile(
                file: "t", line: nil, message: "row 1: column 'pos': '0' is not a position (the top position is 1)")
        ) { try make([0, 1], [0, 1]) }
        #expect(
            throws: RecOPEError.malformedFile(
                file: "t", line: nil, message: "row 2: column 'click': 'nan' is not a finite number")
        ) { try make([0, 1], [1, 1], [0, .nan]) }
        #expect(
            throws: RecOPEError.malformedFile(
                file: "t", line: nil, message: "row 1: column 'p': propensity '1.5' must be a number in (0, 1]")
        ) { try make([0, 1], [1, 1], [0, 1], [1.5, 0.5]) }
        #expect(throws: RecOPEError.self) { try make([0], [1, 1]) }
        #expect(throws: RecOPEError.self) { try make([], [], [], []) }
    }
}

/// Integer context and row-key columns (kept as integers) give the chunks the CSV reader gives
/// for their decimal text: negative keys, missing values as empty fields.
@Suite struct LogArraysIntegerTests {
    @Test func integerColumnsGiveTheReadersChunks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logints-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var text = "item,pos,click,key,tier\n"
        var keys = [Int64]()
        var tiers = [Int64]()
        var missing = [Bool]()
        var rng = Xoshiro256(seed: 9)
        for r in 0..<70_000 {
            let key = Int64(bitPattern: rng.next()) >> Int64(rng.next() % 60)
            let tier = Int64(rng.next() % 5) - 2
            let gone = r % 11 == 0
            keys.append(key)
            tiers.append(gone ? 0 : tier)
            missing.append(gone)
            text += "\(r % 30),\(1 + r % 3),\(r % 7 == 0 ? 1 : 0),\(key),\(gone ? "" : String(tier))\n"
        }
        keys[5] = .min
        keys[6] = .max
        keys[7] = 0
        text =
            text.split(separator: "\n").enumerated().map { i, line in
                guard (6...8).contains(i) else { return String(line) }
                var f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                f[3] = String(keys[i - 1])
                return f.joined(separator: ",")
            }.joined(separator: "\n") + "\n"
        let path = dir.appendingPathComponent("ints.csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var cols = LogColumns(item: "item", position: "pos", reward: "click", context: ["tier"])
        cols.positionBase = 1
        cols.rowKey = "key"
        let reader = try LogReader(path: path, columns: cols)
        var want = [LogChunk]()
        while let c = try reader.next() { want.append(c) }
        let n = keys.count
        let arrays = try LogArrays(
            source: "ints.csv", columns: cols, items: (0..<n).map { Int64($0 % 30) },
            positions: (0..<n).map { Int64(1 + $0 % 3) }, rewards: (0..<n).map { $0 % 7 == 0 ? 1 : 0 },
            propensities: nil, contexts: [.integers(.init(values: tiers, missing: missing))],
            rowKeys: .integers(.init(values: keys)))
        let got = arrays.chunks()
        #expect(got.count == want.count && got.count == 2)
        for (g, w) in zip(got, want) {
            #expect(g.items == w.items && g.positions == w.positions && g.rewards == w.rewards)
            #expect(g.rowKeys == w.rowKeys && g.rowKeyed && w.rowKeyed)
            #expect(g.contexts[0].ids == w.contexts[0].ids && g.contexts[0].values == w.contexts[0].values)
        }
        #expect(want[0].contexts[0].values.contains(""))
    }
}
