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
            propensities: props, contexts: [.init(codes: codes, values: values)])
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
