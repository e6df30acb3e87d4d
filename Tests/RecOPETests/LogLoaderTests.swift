import Foundation
import RecCore
import RecOPE
import Testing

@Suite struct LogLoaderTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString).csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    let header =
        ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user_feature_2,user_feature_3\n"

    @Test func readsOBDRows() throws {
        let p = try write(
            header
                + "0,2019-11-24 00:00:34.762830+00:00,14,3,0,0.0125,a,b,c,d\n1,2019-11-24 01:00:00+00:00,2,1,1,0.5,a,b,c,e\n"
        )
        let d = try LoggedData.load(csv: p, columns: .openBanditDataset)
        #expect(
            d.items == [14, 2] && d.positions == [2, 0] && d.rewards == [0, 1] && d.propensities == [0.0125, 0.5])
        #expect(abs(d.times![0] - 1574553634.76283) < 1e-6 && d.times![1] - d.times![0] > 3565)
        #expect(d.contexts == [0, 1] && d.contextKeys == ["a|b|c|d", "a|b|c|e"])
    }

    @Test func errorsNameFileLineAndColumn() throws {
        for (bad, message) in [
            ("0.0", "propensity '0.0' must be a number in (0, 1]"),
            ("-0.1", "propensity '-0.1' must be a number in (0, 1]"),
            ("1.5", "propensity '1.5' must be a number in (0, 1]"),
            ("nan", "propensity 'nan' must be a number in (0, 1]"),
        ] {
            let p = try write(
                header
                    + "0,2019-11-24 00:00:34+00:00,14,3,0,0.0125,a,b,c,d\n1,2019-11-24 00:00:35+00:00,14,3,0,\(bad),a,b,c,d\n"
            )
            #expect(
                throws: RecOPEError.malformedFile(file: p, line: 3, message: "column 'propensity_score': \(message)")
            ) {
                try LoggedData.load(csv: p, columns: .openBanditDataset)
            }
        }
        let noCol = try write(",timestamp,item_id,click\n0,2019-11-24 00:00:34+00:00,1,0\n")
        #expect(throws: RecOPEError.malformedFile(file: noCol, line: 1, message: "missing column 'position'")) {
            try LoggedData.load(csv: noCol, columns: .openBanditDataset)
        }
        let empty = try write(header)
        #expect(throws: RecOPEError.malformedFile(file: empty, line: nil, message: "the log has no rows")) {
            try LoggedData.load(csv: empty, columns: .openBanditDataset)
        }
        let badPos = try write(header + "0,2019-11-24 00:00:34+00:00,14,0,0,0.0125,a,b,c,d\n")
        #expect(throws: RecOPEError.self) { try LoggedData.load(csv: badPos, columns: .openBanditDataset) }
        let badTime = try write(header + "0,yesterday,14,1,0,0.0125,a,b,c,d\n")
        #expect(throws: RecOPEError.self) { try LoggedData.load(csv: badTime, columns: .openBanditDataset) }
        #expect(throws: RecOPEError.self) { try LoggedData.load(csv: "/nonexistent.csv", columns: .openBanditDataset) }
        #expect(throws: RecOPEError.self) { try LogColumns.parse("item=a,position=b") }
        let generic = try write("it,pos,r,ev\n3,0,1,click\n2,1,0,view\n3,1,1,purchase\n")
        let g = try LoggedData.load(
            csv: generic, columns: try LogColumns.parse("item=it,position=pos,reward=r,event=ev"))
        #expect(g.events == [0, 1, 2] && g.eventNames == ["click", "view", "purchase"] && g.propensities == nil)
        #expect(
            try LogColumns.parse("item=a,position=b,reward=c,context=x+y,position_base=1")
                == LogColumns(item: "a", position: "b", reward: "c", context: ["x", "y"], positionBase: 1))
    }
}
