import Foundation
import RecCore
import RecOPE
import Testing

/// The streaming reader gives the rows, keys and contexts the in-memory loader gives, whatever
/// the chunk size, and an evaluation streamed from the file equals the in-memory one.
@Suite struct LogReaderTests {
    static func file(rows: Int) throws -> String {
        var g = Xoshiro256(seed: 11)
        var text = "id,item,pos,click,prop,ctx\n"
        for j in 0..<rows {
            let item = Int(Sampling.uniform(&g) * 6)
            let pos = j % 2
            let click = Sampling.uniform(&g) < 0.2 ? 1 : 0
            // Quoted fields on some rows exercise the slow path of the CSV reader.
            let ctx = j % 7 == 0 ? "\"c,\(j % 3)\"" : "c\(j % 4)"
            text += "r\(j),\(item),\(pos),\(click),\(1.0 / 6),\(ctx)\n"
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reader-\(UUID().uuidString).csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: [1, 2, 3, 64, 1000])
    func chunksMatchTheLoader(chunk: Int) throws {
        let path = try Self.file(rows: 301)
        var cols = try LogColumns.parse("item=item,position=pos,reward=click,propensity=prop,context=ctx,row_key=id")
        let whole = try LoggedData.load(csv: path, columns: cols)
        let reader = try LogReader(path: path, columns: cols)
        var items = [Int32]()
        var keys = [UInt64]()
        var ctx = [String]()
        var lines = [Int]()
        while let c = try reader.next(maxRows: chunk) {
            #expect(c.count <= chunk)
            items += c.items
            keys += c.rowKeys
            lines += c.lines ?? []
            ctx += c.contexts[0].ids.map { c.contexts[0].values[Int($0)] }
        }
        #expect(items == whole.items && keys == whole.rowKeys)
        #expect(keys[5] == RowHash.key(bytes: Array("r5".utf8)))
        #expect(ctx == whole.contextFeatures[0].map { whole.contextFeatureValues[0][Int($0)] })
        #expect(ctx[7] == "c,1" && ctx[1] == "c1" && lines.first == 2)
        // Without a key column, rows are keyed by the file's name and row number, as in memory.
        cols.rowKey = nil
        let target = try PlackettLuce(scores: [1, 0.5, 0, -0.5, 0.2, 0.1], temperature: 1).exactMarginals(k: 2)
        var s = EvaluationSettings()
        s.bootstrap = 50
        s.pieceGroupings = [.position, .contextFeature("ctx"), .valueModel(buckets: 3)]
        let ev = try OffPolicyEvaluator(
            targets: [TargetPolicy(name: "t", marginals: [target])], logging: nil, settings: s)
        let streamed = try ev.evaluate { (acc: inout OffPolicyAccumulator) throws(RecOPEError) in
            let r = try LogReader(path: path, columns: cols)
            while let c = try r.next(maxRows: chunk) { try acc.add(c) }
        }
        let memory = try OfflineEvaluation.evaluate(
            logs: try LoggedData.load(csv: path, columns: cols), policies: ev.targets,
            targetStates: nil, logging: nil, loggingState: nil, settings: s)
        ShardedEvaluationTests.expectSame(streamed, memory, "chunk \(chunk)")
    }
}
