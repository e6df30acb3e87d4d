import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Simulated shopping sessions with a known structure, for the demo and for checking that the
/// RL trainers learn what rewards ask for.
///
/// Items 1...M have Zipf popularity. A session starts at a popular item; each next click is,
/// with probability `neighbourShare`, one of the last item's `neighbours` following items
/// (browsing similar items), otherwise a popularity draw. A fraction of items are *gateways*:
/// once a session has clicked gateway g, each later step is, with probability
/// `purchaseRate`, the purchase of g's product (one fixed other item), at most once per
/// gateway. Any other click becomes a purchase with probability `impulseRate`. The true
/// next-event distribution of any history is available (`nextItemProbabilities`).
public struct SessionSimulator: Sendable {
    /// The simulated world's sizes and rates.
    public struct Config: Sendable {
        /// Items M.
        public var items = 300
        /// Sessions to simulate.
        public var sessions = 4000
        /// Mean session length (lengths are geometric above a minimum, at most 50).
        public var meanLength = 8.0
        /// Following items a browsing step chooses among.
        public var neighbours = 3
        /// Probability that the next click browses the last item's neighbours.
        public var neighbourShare = 0.6
        /// Fraction of items that are gateways to a purchase.
        public var gatewayFraction = 0.1
        /// Per step after a gateway, the probability of buying its product.
        public var purchaseRate = 0.35
        /// Probability that any other click is a purchase.
        public var impulseRate = 0.02
        /// The Zipf exponent of item popularity.
        public var zipf = 1.0
        /// The defaults (300 items, 4,000 sessions).
        public init() {}

        /// - Throws: `.invalidParameter` naming the first field out of its range.
        public func validate() throws(RecRLError) {
            func bad(_ m: String) -> RecRLError { .invalidParameter("session simulator: " + m) }
            guard items >= 2 && items <= 10_000_000 else {
                throw bad("items must be in 2...10000000, got \(items)")
            }
            guard sessions >= 1 && sessions <= 10_000_000 else {
                throw bad("sessions must be in 1...10000000, got \(sessions)")
            }
            guard meanLength >= 3 && meanLength <= 50 else {
                throw bad("mean length must be in 3...50, got \(meanLength)")
            }
            guard neighbours >= 1 && neighbours < items else {
                throw bad("neighbours must be in 1..<items, got \(neighbours)")
            }
            for (name, v) in [
                ("neighbour share", neighbourShare), ("gateway fraction", gatewayFraction),
                ("purchase rate", purchaseRate), ("impulse rate", impulseRate),
            ] where !(v >= 0 && v <= 1) {
                throw bad("\(name) must be in [0, 1], got \(v)")
            }
            guard zipf >= 0 && zipf <= 10 else { throw bad("zipf exponent must be in [0, 10], got \(zipf)") }
        }
    }

    /// The world it simulates.
    public let config: Config
    /// Popularity probabilities (index i − 1).
    public let popularity: [Double]
    /// Product of each gateway item (0 for non-gateways), index i − 1.
    public let product: [Int]

    /// - Throws: `.invalidParameter` for a config outside its ranges (see `Config.validate`).
    public init(config: Config = Config(), seed: UInt64) throws(RecRLError) {
        try config.validate()
        self.config = config
        let M = config.items
        let w = (1...M).map { 1 / LibC.pow(Double($0), config.zipf) }
        let z = w.reduce(0, +)
        // Popularity follows a random permutation of the ids, so ids say nothing.
        var g = Xoshiro256(seed: seed)
        var perm = Array(0..<M)
        for i in stride(from: M - 1, to: 0, by: -1) { perm.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        var pop = [Double](repeating: 0, count: M)
        for (rank, i) in perm.enumerated() { pop[i] = w[rank] / z }
        popularity = pop
        var prod = [Int](repeating: 0, count: M)
        for i in 0..<M where Double(g.next() % 10_000) / 10_000 < config.gatewayFraction {
            var p = 1 + Int(g.next() % UInt64(M))
            if p == i + 1 { p = 1 + (p % M) }
            prod[i] = p
        }
        product = prod
    }

    /// The events of one step given the history: probability of each (item, purchase?) pair,
    /// as item → (click probability, purchase probability).
    public func nextItemProbabilities(history: [(item: Int, purchase: Bool)]) -> (click: [Double], purchase: [Double]) {
        let M = config.items
        var click = [Double](repeating: 0, count: M)
        var buy = [Double](repeating: 0, count: M)
        // Pending gateway purchases.
        var pending = [Int]()
        var bought = Set<Int>()
        for h in history where h.purchase { bought.insert(h.item) }
        for h in history
        where !h.purchase && product[h.item - 1] > 0 && !bought.contains(product[h.item - 1])
            && !pending.contains(product[h.item - 1])
        {
            pending.append(product[h.item - 1])
        }
        var rest = 1.0
        if !pending.isEmpty {
            let share = config.purchaseRate
            for p in pending { buy[p - 1] += share / Double(pending.count) }
            rest -= share
        }
        let last = history.last?.item
        var browse = [Double](repeating: 0, count: M)
        if let last {
            for k in 1...config.neighbours {
                browse[(last - 1 + k) % M] += config.neighbourShare / Double(config.neighbours)
            }
            for i in 0..<M { browse[i] += (1 - config.neighbourShare) * popularity[i] }
        } else {
            browse = popularity
        }
        for i in 0..<M {
            let p = rest * browse[i]
            buy[i] += p * config.impulseRate
            click[i] += p * (1 - config.impulseRate)
        }
        return (click, buy)
    }

    /// How `generate` draws each event.
    public enum Drawing: Sendable {
        /// By the inverse of the cumulative `nextItemProbabilities` (O(M) an event): the
        /// original draws, kept so that logs generated before stay the same.
        case inverseCDF
        /// By the world's structure (a pending purchase, a neighbour, or a popularity draw from
        /// an alias table; O(1) an event): for catalogs of millions. The same distribution,
        /// other draws.
        case structural
    }

    /// Generates the sessions as an event log (`click` and `purchase` events), drawing each
    /// event from `nextItemProbabilities` of the session so far.
    public func generate(seed: UInt64, drawing: Drawing = .inverseCDF) throws(RecRLError) -> EventLog {
        var g = Xoshiro256(seed: seed)
        var s = [String]()
        var t = [Double]()
        var it = [String]()
        var ev = [String]()
        let structural = drawing == .structural ? StructuralSampler(self) : nil
        for u in 0..<config.sessions {
            // Geometric length with the configured mean, at least 3.
            var len = 3
            while Double(g.next() % 10_000) / 10_000 > 1 / max(1, config.meanLength - 2) && len < 50 { len += 1 }
            var history = [(item: Int, purchase: Bool)]()
            var session = StructuralSampler.Session()
            for k in 0..<len {
                let pick: (item: Int, purchase: Bool)
                if let structural {
                    pick = structural.draw(&session, &g)
                } else {
                    pick = drawByInverseCDF(history: history, &g)
                    history.append(pick)
                }
                s.append("s\(u)")
                t.append(Double(k))
                it.append(String(pick.item))
                ev.append(pick.purchase ? "purchase" : "click")
            }
        }
        return try EventLog(source: "simulated sessions", sessions: s, times: t, items: it, events: ev)
    }

    /// One event after `history`, drawn by the world's structure (as `generate` with
    /// `.structural` draws each). Builds the popularity's alias table (O(items)) and replays
    /// the history on every call: for checks and single draws; `generate` builds the table once.
    /// - Throws: `.invalidParameter` for a history item outside 1...items.
    public func drawNext(after history: [(item: Int, purchase: Bool)], using g: inout Xoshiro256) throws(RecRLError)
        -> (item: Int, purchase: Bool)
    {
        try checkItems(history)
        let sampler = StructuralSampler(self)
        var s = sampler.session(after: history)
        return sampler.draw(&s, &g)
    }

    /// - Throws: `.invalidParameter` naming the first item outside 1...items and its position.
    func checkItems(_ history: [(item: Int, purchase: Bool)]) throws(RecRLError) {
        if let k = history.firstIndex(where: { $0.item < 1 || $0.item > config.items }) {
            throw .invalidParameter(
                "session simulator: history item \(history[k].item) at position \(k) is not an item (1...\(config.items))"
            )
        }
    }

    func drawByInverseCDF(history: [(item: Int, purchase: Bool)], _ g: inout Xoshiro256) -> (
        item: Int, purchase: Bool
    ) {
        let (c, b) = nextItemProbabilities(history: history)
        var x = Double(g.next() >> 11) * 0x1p-53
        var pick = (item: c.count, purchase: false)
        outer: for i in 0..<c.count {
            if x < c[i] {
                pick = (i + 1, false)
                break outer
            }
            x -= c[i]
            if x < b[i] {
                pick = (i + 1, true)
                break outer
            }
            x -= b[i]
        }
        return pick
    }

    /// Draws events from the mixture `nextItemProbabilities` describes, one component at a
    /// time: with probability `purchaseRate` (when purchases are pending) the purchase of a
    /// pending product, uniformly; otherwise a browsing step (a neighbour of the last item with
    /// probability `neighbourShare`, else a popularity draw), a purchase with probability
    /// `impulseRate`.
    struct StructuralSampler {
        let sim: SessionSimulator
        let popularity: AliasTable

        init(_ sim: SessionSimulator) {
            self.sim = sim
            popularity = AliasTable(weights: sim.popularity)
        }

        /// What a session's next event depends on: its last item, the products of its clicked
        /// gateways not bought yet (in click order), and what it bought.
        struct Session {
            var last: Int? = nil
            var pending = [Int]()
            var bought = Set<Int>()
        }

        /// The state after `history` (events applied in order, as `draw` applies its own).
        func session(after history: [(item: Int, purchase: Bool)]) -> Session {
            var s = Session()
            for h in history { apply(h, to: &s) }
            return s
        }

        func apply(_ pick: (item: Int, purchase: Bool), to s: inout Session) {
            s.last = pick.item
            if pick.purchase {
                s.bought.insert(pick.item)
                s.pending.removeAll { $0 == pick.item }
            } else {
                let p = sim.product[pick.item - 1]
                if p > 0 && !s.bought.contains(p) && !s.pending.contains(p) { s.pending.append(p) }
            }
        }

        func uniform(_ g: inout Xoshiro256) -> Double { Double(g.next() >> 11) * 0x1p-53 }

        func draw(_ s: inout Session, _ g: inout Xoshiro256) -> (item: Int, purchase: Bool) {
            let c = sim.config
            let M = c.items
            var pick: (item: Int, purchase: Bool)
            if !s.pending.isEmpty && uniform(&g) < c.purchaseRate {
                pick = (s.pending[Int(g.next() % UInt64(s.pending.count))], true)
            } else {
                let item: Int
                if let last = s.last, uniform(&g) < c.neighbourShare {
                    let k = 1 + Int(g.next() % UInt64(c.neighbours))
                    item = (last - 1 + k) % M + 1
                } else {
                    item = popularity.sample(&g) + 1
                }
                pick = (item, uniform(&g) < c.impulseRate)
            }
            apply(pick, to: &s)
            return pick
        }
    }
}
