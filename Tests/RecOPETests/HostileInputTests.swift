import Foundation
import RecCore
import RecIO
import RecOPE
import Testing
import _RecTestSupport

/// Hostile input, by class: every case ends in a typed error that names the path once, never a
/// trap.
@Suite struct HostileInputTests {
    static let directory = FileManager.default.temporaryDirectory.path

    /// Class: a directory where a file is expected, for every reader of outside files here.
    @Test func directoriesAreRefused() throws {
        let d = Self.directory
        func expectDirectory(_ what: String, _ body: () throws -> Void) { expectDirectoryRefused(d, what, body) }
        expectDirectory("CSVReader") { _ = try CSVReader(path: d) }
        expectDirectory("CSVMatrix") { _ = try CSVMatrix.read(d) }
        expectDirectory("SafeTensors") { _ = try SafeTensors.read(d) }
        expectDirectory("LoggedData") { _ = try LoggedData.load(csv: d, columns: .openBanditDataset) }
        expectDirectory("LogReader") { _ = try LogReader(path: d, columns: .openBanditDataset) }
        expectDirectory("ItemFeatures") { _ = try ItemFeatures.load(csv: d) }
        expectDirectory("PolicySpec") { _ = try PolicySpec.load(d) }
        expectDirectory("BetaPrior") { _ = try BetaPrior.load(yaml: d, campaign: "all") }
        expectDirectory("OffPolicyState") { _ = try OffPolicyState.load(d) }
    }

    /// An item id past any catalog (the fuzzer's Int.max, whose + 1 trapped) is a typed error
    /// naming the line.
    @Test func hugeItemIdsAreRefused() throws {
        let p = Self.directory + "/reckit-items-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: p) }
        for id in ["9223372036854775807", "10000000"] {
            try "item_id,colour\n0,red\n\(id),blue\n".write(toFile: p, atomically: true, encoding: .utf8)
            #expect {
                _ = try ItemFeatures.load(csv: p)
            } throws: { "\($0)".contains("\(p):3") && "\($0)".contains("item id \(id) is out of range") }
        }
    }

    /// A log read whole names a bad row by its file line (the header is line 1), as the
    /// streaming reader does: its chunks carry the lines.
    @Test func loadedLogsKeepTheirLines() throws {
        let p = Self.directory + "/reckit-log-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: p) }
        try "item,position,click,propensity\n1,0,1,0.5\n2,2147483647,0,0.5\n".write(
            toFile: p, atomically: true, encoding: .utf8)
        let data = try LoggedData.load(
            csv: p, columns: LogColumns.parse("item=item,position=position,reward=click,propensity=propensity"))
        #expect(data.lines == [2, 3])
        #expect(data.chunk(1..<2).lines == [3])
        #expect(data.positions.last == Int32.max)
    }

    /// A missing file says so, with the path once.
    @Test func missingFilesAreNamed() {
        let p = Self.directory + "/no-such-\(UUID().uuidString).csv"
        #expect(throws: RecIOError.cannotOpen(file: p, reason: "no such file")) { _ = try CSVReader(path: p) }
        #expect(throws: RecOPEError.cannotOpen(file: p, reason: "no such file")) {
            _ = try LoggedData.load(csv: p, columns: .openBanditDataset)
        }
        #expect(throws: RecOPEError.cannotOpen(file: p, reason: "no such file")) { _ = try PolicySpec.load(p) }
    }
}
