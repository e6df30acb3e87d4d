import FuzzSupport
import RecKit

/// dTS/dOTS impression logs (`time,item,click` rows, times as Float64): read, then discount a
/// uniform prior over the items they name, and the exact marginals of the result.
@main
enum FuzzImpressionLog: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard let events = try? DiscountedThompsonSampling.readEvents(csv: fuzzFile(input, suffix: ".csv")),
            let top = events.map(\.item).max(), top < 64,
            var d = try? DiscountedThompsonSampling(
                prior: BetaPrior.uniform(items: top + 1), discount: 0.9, period: 3600)
        else { return }
        guard (try? d.update(with: events)) != nil, let p = try? d.policy(optimistic: true) else { return }
        _ = try? p.exactMarginals(k: min(2, p.itemCount))
    }
}
