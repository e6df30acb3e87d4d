import FuzzSupport
import RecKit

/// Event logs in every format: generic CSV, RetailRocket, YooChoose (clicks and buys), MovieLens.
@main
enum FuzzEventLog: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        let path = fuzzFile(input)
        _ = try? EventLog.load(csv: path)
        _ = try? EventLog.loadRetailRocket(path)
        _ = try? EventLog.loadYooChoose(clicks: path, buys: path)
        if let m = try? RatingMapping.parse("5=purchase,1-4=click") {
            _ = try? EventLog.loadMovieLens(path, ratings: m)
        }
    }
}
