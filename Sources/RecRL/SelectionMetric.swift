import RecCore

/// The validation metric that picks a run's best epoch: one event type's hit rate or NDCG at a
/// cutoff, `EVENT_hr@K` or `EVENT_ndcg@K` (K = 5, 10 or 20).
public struct SelectionMetric: Sendable, Hashable, CustomStringConvertible {
    /// What is measured.
    public enum Measure: String, Sendable, Hashable {
        /// The hit rate HR@K.
        case hr
        /// NDCG@K.
        case ndcg
    }

    /// The event type (`purchase`, `click`, …).
    public var event: String
    /// HR or NDCG.
    public var measure: Measure
    /// The cutoff K.
    public var cutoff: Int

    /// A metric.
    public init(event: String, measure: Measure, cutoff: Int) {
        self.event = event
        self.measure = measure
        self.cutoff = cutoff
    }

    /// `EVENT_hr@K` or `EVENT_ndcg@K`, the name reports and checkpoints carry.
    public var description: String { "\(event)_\(measure.rawValue)@\(cutoff)" }

    /// Reads `EVENT_hr@K` or `EVENT_ndcg@K` (the event type may hold underscores).
    /// - Throws: `.invalidParameter` naming the text and the valid forms.
    public init(parsing name: String) throws(RecRLError) {
        let bad = RecRLError.invalidParameter(
            "unknown selection metric '\(clipped(name))' (EVENT_hr@K or EVENT_ndcg@K, K = 5, 10 or 20)")
        guard let at = name.lastIndex(of: "@"), let k = Int(name[name.index(after: at)...]), k >= 1 else { throw bad }
        let head = name[..<at]
        for m in [Measure.ndcg, .hr] where head.hasSuffix("_" + m.rawValue) {
            let event = head.dropLast(m.rawValue.count + 1)
            guard !event.isEmpty else { throw bad }
            self.init(event: String(event), measure: m, cutoff: k)
            return
        }
        throw bad
    }

    /// The metric that picks the best epoch when none is given: purchase NDCG@10, or the first
    /// event type's NDCG@10 when the data has no purchases.
    public static func `default`(eventTypes: [String]) -> SelectionMetric {
        SelectionMetric(
            event: eventTypes.contains("purchase") ? "purchase" : eventTypes.first ?? "click", measure: .ndcg,
            cutoff: 10)
    }

    /// The metric's value in `m`; −∞ when `m` has no events of its type (or not its cutoff), so
    /// the first epoch stays the best.
    public func value(in m: RankingMetrics) -> Double {
        guard let t = m.eventTypes.firstIndex(of: event), let c = m.cutoffs.firstIndex(of: cutoff), m.counts[t] > 0
        else { return -.infinity }
        switch measure {
        case .hr: return m.hits[t][c] / Double(m.counts[t])
        case .ndcg: return m.ndcgSums[t][c] / Double(m.counts[t])
        }
    }
}
