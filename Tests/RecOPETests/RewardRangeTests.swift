import Foundation
import RecCore
import RecIO
import RecOPE
import Testing
import _RecTestSupport

/// Class: rewards above Float's range but finite as Double: refused with the file and line,
/// never an infinite estimate.
@Suite struct RewardRangeTests {
    @Test func hugeRewardsAreRefusedByEveryLoader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rewards-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for value in ["1e39", "-1e300", "5e18"] {
            let path = dir + "/log.csv"
            try Data("item,position,reward,propensity\n0,0,1,0.5\n1,0,\(value),0.5\n".utf8).write(
                to: URL(fileURLWithPath: path))
            let cols = try LogColumns.parse("item=item,position=position,reward=reward,propensity=propensity")
            #expect {
                _ = try LoggedData.load(csv: path, columns: cols)
            } throws: { error in
                "\(error)".hasPrefix(path + ":3: ") && "\(error)".contains("4.6e18")
            }
            #expect(throws: RecOPEError.self) {
                _ = try LoggedData(
                    items: [0, 1], positions: [0, 0], rewards: [1, Double(value)!], propensities: [0.5, 0.5])
            }
        }
    }
}
