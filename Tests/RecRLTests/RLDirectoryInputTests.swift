import Foundation
import RecRL
import Testing
import _RecTestSupport

/// Hostile input, class "a directory where a file is expected": the RL readers refuse it with
/// a typed error naming the path once.
@Suite struct RLDirectoryInputTests {
    @Test func directoriesAreRefused() throws {
        let d = FileManager.default.temporaryDirectory.path
        func check(_ what: String, _ body: () throws -> Void) { expectDirectoryRefused(d, what, body) }
        check("EventLog.load") { _ = try EventLog.load(csv: d) }
        check("RetailRocket") { _ = try EventLog.loadRetailRocket(d) }
        check("YooChoose") { _ = try EventLog.loadYooChoose(clicks: d, buys: nil) }
        check("MovieLens") { _ = try EventLog.loadMovieLens(d, ratings: RatingMapping.parse("5=purchase,1-4=click")) }
        check("checkpoint") { _ = try SequentialRecommender.load(from: d) }
    }
}
