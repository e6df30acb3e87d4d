import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Discounted Thompson sampling (dTS) and its optimistic variant (dOTS): per-item discounted
/// success and failure counts on top of a fixed prior.
///
/// Time is cut into periods `[origin + j·period, origin + (j+1)·period)`. When the log enters a
/// later period, every item's counts are discounted once per boundary crossed (S ← γS, F ← γF),
/// then that period's clicks and non-clicks are added. The prior is never discounted: the
/// posterior is Beta(prior α + S, prior β + F). (The practitioners' best setting: γ = 0.99 every
/// 4 hours.)
public struct DiscountedThompsonSampling: Sendable, Equatable {
    /// One logged impression.
    public struct Event: Sendable, Equatable {
        /// Seconds (any origin; only differences matter).
        public var time: Double
        /// The item shown (0-based, as the prior numbers them).
        public var item: Int
        /// Whether it was clicked.
        public var clicked: Bool
        /// A logged impression.
        public init(time: Double, item: Int, clicked: Bool) {
            self.time = time
            self.item = item
            self.clicked = clicked
        }
    }

    /// The prior the discounted counts start from.
    public let prior: BetaPrior
    /// γ in (0, 1].
    public let discount: Double
    /// Period length (same unit as event times, e.g. seconds).
    public let period: Double
    /// Where period boundaries start.
    public let origin: Double
    /// Discounted clicks per item.
    public private(set) var successes: [Double]
    /// Discounted non-clicks per item.
    public private(set) var failures: [Double]
    /// The period of the last event or `advance`, nil before any.
    public private(set) var currentPeriod: Int?

    /// - Throws: `.invalidParameter` for γ outside (0, 1] or a period that is not positive and finite.
    public init(prior: BetaPrior, discount: Double, period: Double, origin: Double = 0) throws(RecOPEError) {
        guard discount > 0 && discount <= 1 else {
            throw .invalidParameter("dTS: discount must be in (0, 1], got \(discount)")
        }
        guard period > 0 && period.isFinite else {
            throw .invalidParameter("dTS: period must be positive and finite, got \(period)")
        }
        guard origin.isFinite else { throw .invalidParameter("dTS: origin must be finite, got \(origin)") }
        self.prior = prior
        self.discount = discount
        self.period = period
        self.origin = origin
        successes = [Double](repeating: 0, count: prior.alpha.count)
        failures = successes
    }

    /// The period `t` falls in.
    /// - Throws: `.invalidParameter` when it is more than 2⁵³ periods from the origin (a time
    ///   in the wrong unit, or a tiny period): the index would not be exact.
    func periodIndex(_ t: Double) throws(RecOPEError) -> Int {
        let v = ((t - origin) / period).rounded(.down)
        guard v.isFinite, abs(v) < 0x1p53 else {
            throw .invalidParameter(
                "dTS: time \(t) is \(cFormat("%.3g", v)) periods of \(period) s from the origin; times must lie within 9e15 periods (check the time unit and the period)"
            )
        }
        return Int(v)
    }

    /// Discounts the counts for every period boundary between the current period and `time`'s.
    /// - Throws: `.invalidParameter` when `time` is not finite or lies before the current period.
    public mutating func advance(to time: Double) throws(RecOPEError) {
        guard time.isFinite else { throw .invalidParameter("dTS: time \(time) is not finite") }
        let q = try periodIndex(time)
        guard let p = currentPeriod else {
            currentPeriod = q
            return
        }
        guard q >= p else {
            throw .invalidParameter(
                "dTS: time \(time) is in period \(q), before the current period \(p); events must be in time order")
        }
        if q > p {
            let f = LibC.pow(discount, Double(q - p))
            for i in successes.indices {
                successes[i] *= f
                failures[i] *= f
            }
            currentPeriod = q
        }
    }

    /// Reads an impression log: CSV rows `time,item,click` (time in seconds, read as Float64, so
    /// Unix times keep their seconds; item a non-negative integer; click 0 or 1), with an
    /// optional header row.
    /// - Throws: `.malformedFile` naming the file, line and field.
    public static func readEvents(csv path: String) throws(RecOPEError) -> [Event] {
        let r: CSVReader
        do { r = try CSVReader(path: path) } catch { throw opeError(error) }
        var events = [Event]()
        var first = true
        while true {
            let more: Bool
            do { more = try r.next() } catch { throw opeError(error) }
            if !more { break }
            func bad(_ field: Int, _ m: String) -> RecOPEError {
                .malformedFile(file: path, line: r.line, message: "field \(field): \(m)")
            }
            guard r.count == 3 else {
                throw .malformedFile(
                    file: path, line: r.line, message: "expected 3 fields time,item,click; got \(r.count)")
            }
            if first && r.double(0) == nil && r.double(1) == nil && r.double(2) == nil {
                first = false
                continue  // a header
            }
            first = false
            guard let t = r.double(0), t.isFinite else {
                throw bad(1, "time '\(clipped(r.string(0)))' is not a finite number of seconds")
            }
            guard let item = r.int(1), item >= 0, item < Int(Int32.max) else {
                throw bad(2, "item '\(clipped(r.string(1)))' is not a non-negative integer")
            }
            guard let click = r.int(2), click == 0 || click == 1 else {
                throw bad(3, "click '\(clipped(r.string(2)))' is not 0 or 1")
            }
            events.append(Event(time: t, item: item, clicked: click == 1))
        }
        return events
    }

    /// Adds a time-ordered log of impressions.
    /// - Throws: `.invalidParameter` naming the event (its position in `events`) for an item
    ///   outside the catalog, a non-finite time, or a time earlier than the previous one.
    public mutating func update(with events: [Event]) throws(RecOPEError) {
        for (e, ev) in events.enumerated() {
            guard ev.item >= 0 && ev.item < successes.count else {
                throw .invalidParameter("dTS: event \(e) names item \(ev.item), outside the \(successes.count) items")
            }
            do { try advance(to: ev.time) } catch { throw .invalidParameter("dTS: event \(e): \(error)") }
            if ev.clicked { successes[ev.item] += 1 } else { failures[ev.item] += 1 }
        }
    }

    /// The policy now: Beta(prior α + S, prior β + F) per item; `optimistic` gives dOTS.
    public func policy(optimistic: Bool = false, boost: PriorityBoost? = nil) throws(RecOPEError) -> ThompsonSampling {
        try ThompsonSampling(
            alpha: zip(prior.alpha, successes).map { $0 + $1 },
            beta: zip(prior.beta, failures).map { $0 + $1 },
            optimistic: optimistic, boost: boost, name: optimistic ? "dOTS" : "dTS")
    }
}
