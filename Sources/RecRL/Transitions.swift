import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// What each event type is worth: `reward = table[type] × priceFactor`, with the price factor 1,
/// the price, or log(1 + price) (events without a price get 1).
public struct RewardTable: Sendable, Equatable {
    /// How an event's price scales its reward.
    public enum PriceScaling: String, NamedChoice {
        /// Factor 1.
        case none
        /// Factor = the price.
        case linear
        /// Factor = log(1 + price).
        case log
    }
    /// Reward per event type.
    public var rewards: [String: Float]
    /// How a price scales the reward.
    public var priceScaling: PriceScaling
    /// The event types `parse` set (a training run refuses those its data does not have: a
    /// misspelt `--reward purchse=1` is an error, not a silently unused entry).
    public var given: Set<String> = []

    /// The papers' values (click 0.2, purchase 1.0), and cart/like halfway (0.5).
    public static let standard = RewardTable(["click": 0.2, "cart": 0.5, "like": 0.5, "purchase": 1.0])

    /// A table of rewards by event type.
    public init(_ rewards: [String: Float], priceScaling: PriceScaling = .none) {
        self.rewards = rewards
        self.priceScaling = priceScaling
    }

    /// Parses `click=0.2,purchase=1` and merges it over `base`.
    public static func parse(_ s: String, over base: RewardTable = .standard) throws(RecRLError) -> RewardTable {
        var t = base
        for part in s.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
            guard kv.count == 2, !kv[0].isEmpty, let d = Double(kv[1]), d.isFinite else {
                throw .invalidParameter("reward: expected EVENT=NUMBER, got '\(clipped(part))'")
            }
            guard abs(d) <= Double(Float.greatestFiniteMagnitude) else {
                throw .invalidParameter(
                    "reward: \(clipped(kv[0]))=\(kv[1].prefix(40)) is beyond the range of the Float rewards train on (|r| ≤ 3.4e38)"
                )
            }
            t.rewards[kv[0]] = Float(d)
            t.given.insert(kv[0])
        }
        return t
    }

    /// The reward of each event type of `types`, in order.
    /// - Throws: `.missingReward` naming the first event type the table lacks.
    public func values(for types: [String]) throws(RecRLError) -> [Float] {
        var out = [Float]()
        for t in types {
            guard let v = rewards[t] else { throw .missingReward(eventType: t, table: rewards.keys.sorted()) }
            out.append(v)
        }
        return out
    }

    func factor(_ price: Float) -> Float {
        guard price.isFinite else { return 1 }
        switch priceScaling {
        case .none: return 1
        case .linear: return price
        case .log: return LibC.log1p(max(0, price))
        }
    }
}

/// The offline RL transitions of a set of sessions, stored compactly: transition j is the event
/// at `events[j]` (its session starting at `starts[j]`); the state is the previous `length`
/// items, the action the event's item, the next state includes it, and `done` marks the
/// session's last event.
public struct Transitions: Sendable {
    /// The sessions the transitions come from.
    public let data: SessionData
    /// The state length L.
    public let length: Int
    /// The TD discount γ.
    public let gamma: Float
    /// Event index of each transition.
    public let events: [Int32]
    /// Start of its session.
    public let starts: [Int32]
    /// Reward per transition.
    public let rewards: [Float]
    /// Whether the transition is its session's last event.
    public let done: [Bool]
    /// Transitions.
    public var count: Int { events.count }

    /// - Throws: `.missingReward` for an event type the table lacks.
    public init(_ data: SessionData, length: Int = 10, rewards table: RewardTable = .standard, gamma: Float = 0.5)
        throws(RecRLError)
    {
        guard length >= 1 else { throw .invalidParameter("state length must be at least 1, got \(length)") }
        guard gamma >= 0 && gamma < 1 else { throw .invalidParameter("discount must be in [0, 1), got \(gamma)") }
        // Only the event types present need a reward.
        var present = [Bool](repeating: false, count: data.eventTypes.count)
        for e in data.events { present[Int(e)] = true }
        let needed = data.eventTypes.indices.filter { present[$0] }
        var perType = [Float](repeating: 0, count: data.eventTypes.count)
        let vals = try table.values(for: needed.map { data.eventTypes[$0] })
        for (k, t) in needed.enumerated() { perType[t] = vals[k] }
        self.data = data
        self.length = length
        self.gamma = gamma
        var ev = [Int32]()
        var st = [Int32]()
        var rw = [Float]()
        var dn = [Bool]()
        ev.reserveCapacity(data.eventCount)
        st.reserveCapacity(data.eventCount)
        rw.reserveCapacity(data.eventCount)
        dn.reserveCapacity(data.eventCount)
        for s in 0..<data.sessionCount {
            let r = data.range(s)
            for e in r {
                ev.append(Int32(e))
                st.append(Int32(r.lowerBound))
                rw.append(perType[Int(data.events[e])] * table.factor(data.prices?[e] ?? .nan))
                dn.append(e == r.upperBound - 1)
            }
        }
        events = ev
        starts = st
        rewards = rw
        done = dn
    }

    /// Right-padded state before event `e` of a session starting at `start`: the last `length`
    /// items before `e`, oldest first, then zeros. `includingEvent` gives the next state.
    @inline(__always)
    public func state(event e: Int, start: Int, includingEvent: Bool = false) -> [Int] {
        sessionState(data.items, event: e, start: start, length: length, includingEvent: includingEvent)
    }

    /// The action (item id) of transition `j`.
    public func action(_ j: Int) -> Int { Int(data.items[Int(events[j])]) }
    /// The state of transition `j`: the previous L items, right-padded with 0.
    public func state(_ j: Int) -> [Int] { state(event: Int(events[j]), start: Int(starts[j])) }
    /// The next state of transition `j`: the last L items including its action.
    public func nextState(_ j: Int) -> [Int] {
        state(event: Int(events[j]), start: Int(starts[j]), includingEvent: true)
    }
}

/// The right-padded window of items before (or up to and including) event `e`.
@inline(__always)
func sessionState(_ items: [Int32], event e: Int, start: Int, length L: Int, includingEvent: Bool) -> [Int] {
    let end = includingEvent ? e + 1 : e
    let from = max(start, end - L)
    var s = [Int](repeating: 0, count: L)
    for (k, i) in (from..<end).enumerated() { s[k] = Int(items[i]) }
    return s
}
