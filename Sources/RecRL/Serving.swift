import RecCore
import RecOPE

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// How a trained model ranks items when it serves.
public enum ServingRule: Sendable, Equatable {
    /// Top-k by score (ties: random; see `RankingPolicy`).
    case greedy
    /// With probability ε an exploring ranking whose first slot is a long-tail item with
    /// probability `tailShare`; the tail is every item outside the `headFraction` most popular.
    case epsilonGreedy(epsilon: Double, tailShare: Double, headFraction: Double)
    /// Plackett–Luce over score / temperature.
    case plackettLuce(temperature: Double)

    /// Parses `greedy`, `epsilon:0.1[:tail-share[:head-fraction]]`, `pl:0.5`.
    public static func parse(_ s: String) throws(RecRLError) -> ServingRule {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func number(_ i: Int, _ what: String, in range: ClosedRange<Double>) throws(RecRLError) -> Double {
            guard let v = Double(parts[i]), range.contains(v) else {
                throw .invalidParameter(
                    "serving rule '\(clipped(s))': \(what) must be a number in \(range.lowerBound)...\(range.upperBound), got '\(clipped(parts[i]))'"
                )
            }
            return v
        }
        switch parts.first {
        case "greedy":
            guard parts.count == 1 else {
                throw .invalidParameter("serving rule '\(clipped(s))': greedy takes no parameters")
            }
            return .greedy
        case "epsilon", "epsilon-greedy":
            guard parts.count >= 2 && parts.count <= 4 else {
                throw .invalidParameter(
                    "serving rule: expected epsilon:EPS[:TAIL_SHARE[:HEAD_FRACTION]], got '\(clipped(s))'")
            }
            let e = try number(1, "EPS", in: 0...1)
            let share = parts.count > 2 ? try number(2, "TAIL_SHARE", in: 0...1) : 0.5
            let head = parts.count > 3 ? try number(3, "HEAD_FRACTION", in: 0...1) : 0.2
            return .epsilonGreedy(epsilon: e, tailShare: share, headFraction: head)
        case "pl", "plackett-luce":
            guard parts.count == 2 else {
                throw .invalidParameter("serving rule: expected pl:TEMPERATURE, got '\(clipped(s))'")
            }
            guard let t = Double(parts[1]), t > 0, t.isFinite else {
                throw .invalidParameter(
                    "serving rule '\(clipped(s))': TEMPERATURE must be a positive finite number, got '\(clipped(parts[1]))'"
                )
            }
            return .plackettLuce(temperature: t)
        default:
            throw .invalidParameter(
                "serving rule: '\(clipped(s))' is not greedy, epsilon:EPS[:TAIL_SHARE[:HEAD_FRACTION]] or pl:TEMPERATURE"
            )
        }
    }
}

extension SequentialRecommender {
    /// A RecOPE ranking policy for one state over `candidates` (item ids; policy item j is
    /// `candidates[j]`), so that the trained model can be compared offline with a live policy.
    /// - Parameters:
    ///   - state: the history the policy ranks for (item ids, 0 = padding).
    ///   - candidates: the items ranked; policy item j is `candidates[j]`.
    ///   - rule: greedy, epsilon-greedy on the long tail, or Plackett–Luce over the scores.
    ///   - popularity: training-event counts per item (index i − 1), which define the long tail
    ///     for `.epsilonGreedy`.
    ///   - head: the head whose scores rank the candidates.
    /// - Throws: `.invalidParameter` for an item outside the catalog or a bad rule parameter.
    public func servingPolicy(
        state: [Int], candidates: [Int], rule: ServingRule, popularity: [Int]? = nil,
        head: Head = .supervised
    ) throws(RecRLError) -> any RankingPolicy {
        try servingPolicies(states: [state], candidates: candidates, rule: rule, popularity: popularity, head: head)[0]
    }

    /// One policy per state (one encoder pass for all states).
    public func servingPolicies(
        states: [[Int]], candidates: [Int], rule: ServingRule, popularity: [Int]? = nil,
        head: Head = .supervised
    ) throws(RecRLError) -> [any RankingPolicy] {
        for c in candidates where c < 1 || c > config.items {
            throw .invalidParameter("serving: item \(c) is outside the catalog 1...\(config.items)")
        }
        let z = try scores(states, head: head)
        var isTail = [Bool]()
        if case .epsilonGreedy(_, _, let headFraction) = rule {
            guard let pop = popularity, pop.count == config.items else {
                throw .invalidParameter(
                    "serving: epsilon-greedy needs the training popularity of all \(config.items) items")
            }
            let order = candidates.indices.sorted {
                pop[candidates[$0] - 1] > pop[candidates[$1] - 1]
                    || (pop[candidates[$0] - 1] == pop[candidates[$1] - 1] && candidates[$0] < candidates[$1])
            }
            let nHead = max(1, min(candidates.count - 1, Int((Double(candidates.count) * headFraction).rounded())))
            isTail = [Bool](repeating: true, count: candidates.count)
            for j in order.prefix(nHead) { isTail[j] = false }
        }
        var out = [any RankingPolicy]()
        for r in 0..<states.count {
            let sc = candidates.map { Double(z[r, $0 - 1]) }
            do {
                switch rule {
                case .greedy: out.append(try EpsilonGreedy(scores: sc, epsilon: 0, name: "greedy"))
                case .epsilonGreedy(let e, let share, _):
                    out.append(try TailExplorationGreedy(scores: sc, epsilon: e, isTail: isTail, tailShare: share))
                case .plackettLuce(let t): out.append(try PlackettLuce(scores: sc, temperature: t))
                }
            } catch { throw .invalidParameter("\(error)") }
        }
        return out
    }
}

extension SequentialRecommender {
    /// Target rank marginals for logged slates: one set per history (raw item keys, oldest
    /// first; keys outside the catalog are left out of the state), over the candidate items
    /// given by their raw keys (policy item j = `candidateKeys[j]`), to depth `k`. This is what
    /// `reckit offline-ab --target-model` feeds to the estimators as per-row policy states.
    /// - Returns: the marginals and the number of history items that were not in the catalog.
    /// - Throws: `.invalidParameter` for a candidate outside the catalog or a bad rule.
    public func servingMarginals(
        histories: [[String]], candidateKeys: [String], rule: ServingRule, k: Int,
        head: Head = .supervised
    ) throws(RecRLError) -> (marginals: [RankMarginals], unknownHistoryItems: Int) {
        let ids = itemIDs()
        var candidates = [Int]()
        for key in candidateKeys {
            guard let id = ids[key] else {
                throw .invalidParameter("item '\(clipped(key))' is not in the model's catalog")
            }
            candidates.append(id)
        }
        var unknown = 0
        let states = histories.map { h -> [Int] in
            let r = state(rawHistory: h, ids: ids)
            unknown += r.unknown
            return r.state
        }
        let policies = try servingPolicies(
            states: states, candidates: candidates, rule: rule, popularity: trainingCounts, head: head)
        var out = [RankMarginals]()
        out.reserveCapacity(policies.count)
        for p in policies {
            do { out.append(try p.exactMarginals(k: min(k, p.itemCount))) } catch {
                throw .invalidParameter("\(error)")
            }
        }
        return (out, unknown)
    }
}
