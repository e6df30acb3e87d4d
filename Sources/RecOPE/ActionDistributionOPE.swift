/// Off-policy estimators on per-round action distributions, in the Open Bandit Pipeline's terms
/// (its `bandit_feedback` arrays and `action_dist`): the round rewards whose mean is the policy
/// value of IPW, SNIPW, DM, DR, SwitchDR, SNDR, DRos and the sub-Gaussian IPW and DR, with OBP's definitions (`obp.ope.estimators`), so
/// that a notebook written for OBP gets the same numbers from RecKit (`reckit.obp`).
///
/// Shapes: `n` rounds, `actions` actions, `positions` slots; `actionDistribution` and
/// `estimatedRewards` are `n × actions × positions`, row-major (OBP's layout). With
/// `w = π_e(a_t | x_t, p_t) / pscore_t`, `q̂_t(a) = q̂(x_t, a, p_t)` and
/// `DM_t = Σ_a π_e(a | x_t, p_t) q̂_t(a) / Σ_a π_e(a | x_t, p_t)` (numpy's weighted average):
/// IPW `min(w, λ) r`; SNIPW `w r / mean(w)`; DM `DM_t`; DR `DM_t + min(w, λ)(r − q̂_t(a_t))`;
/// SwitchDR `DM_t + 1[w ≤ λ] w (r − q̂_t(a_t))`; SNDR `DM_t + w (r − q̂_t(a_t)) / mean(w)`; DRos
/// `DM_t + λw/(w² + λ)·(r − q̂_t(a_t))` (w at λ = ∞); sub-Gaussian IPW `w/(1 − λ + λw)·r` and DR
/// `DM_t + w/(1 − λ + λw)·(r − q̂_t(a_t))`.
public enum ActionDistributionOPE {
    /// An estimator and its parameter.
    public enum Estimator: Sendable, Equatable {
        /// Inverse probability weighting with weights clipped at `lambda` (∞: none).
        case ipw(lambda: Double)
        /// Self-normalised IPW.
        case snipw
        /// The direct method.
        case dm
        /// Doubly robust with weights clipped at `lambda` (∞: none).
        case dr(lambda: Double)
        /// Switch doubly robust: the IPW correction only where `w ≤ lambda`.
        case switchDR(lambda: Double)
        /// Self-normalised doubly robust: the correction over the weights' mean.
        case sndr
        /// Doubly robust with optimistic shrinkage λw / (w² + λ) (∞: DR).
        case dros(lambda: Double)
        /// Sub-Gaussian IPW: weights w / (1 − λ + λw), λ in [0, 1].
        case subGaussianIPW(lambda: Double)
        /// Sub-Gaussian DR: the correction weighted by w / (1 − λ + λw), λ in [0, 1].
        case subGaussianDR(lambda: Double)

        /// Whether it needs the estimated rewards.
        public var needsRewardModel: Bool {
            switch self {
            case .ipw, .snipw, .subGaussianIPW: return false
            case .dm, .dr, .switchDR, .sndr, .dros, .subGaussianDR: return true
            }
        }
    }

    /// Logged rounds and a target policy's action distribution (buffers owned by the caller).
    public struct Rounds {
        /// Rounds.
        public let n: Int
        /// Actions (items).
        public let actions: Int
        /// Positions (slots).
        public let positions: Int
        /// The logged action of each round (0-based).
        public let action: UnsafeBufferPointer<Int64>
        /// The position of each round (0-based).
        public let position: UnsafeBufferPointer<Int64>
        /// The reward of each round.
        public let reward: UnsafeBufferPointer<Double>
        /// The logging policy's probability of the logged action at its position.
        public let pscore: UnsafeBufferPointer<Double>
        /// π_e(a | x_t, p): `n × actions × positions`.
        public let actionDistribution: UnsafeBufferPointer<Double>
        /// q̂(x_t, a, p): `n × actions × positions`, or nil.
        public let estimatedRewards: UnsafeBufferPointer<Double>?

        /// Checks every value against the shapes (actions and positions in range, finite rewards,
        /// propensities in (0, 1], distributions finite and non-negative).
        /// - Throws: `RecOPEError.invalidParameter` naming the array, the round and the value.
        public init(
            n: Int, actions: Int, positions: Int, action: UnsafeBufferPointer<Int64>,
            position: UnsafeBufferPointer<Int64>, reward: UnsafeBufferPointer<Double>,
            pscore: UnsafeBufferPointer<Double>, actionDistribution: UnsafeBufferPointer<Double>,
            estimatedRewards: UnsafeBufferPointer<Double>?
        ) throws(RecOPEError) {
            guard n >= 1, actions >= 1, positions >= 1 else {
                throw .invalidParameter("n_rounds, n_actions and len_list must be at least 1")
            }
            let cells = n * actions * positions
            guard action.count == n, position.count == n, reward.count == n, pscore.count == n,
                actionDistribution.count == cells, estimatedRewards.map({ $0.count == cells }) ?? true
            else { throw .invalidParameter("array lengths do not match n_rounds × n_actions × len_list") }
            for t in 0..<n {
                guard action[t] >= 0 && action[t] < actions else {
                    throw .invalidParameter("action[\(t)] = \(action[t]) is not in 0..<\(actions)")
                }
                guard position[t] >= 0 && position[t] < positions else {
                    throw .invalidParameter("position[\(t)] = \(position[t]) is not in 0..<\(positions)")
                }
                guard reward[t].isFinite else { throw .invalidParameter("reward[\(t)] is not finite") }
                guard pscore[t] > 0 && pscore[t] <= 1 else {
                    throw .invalidParameter("pscore[\(t)] = \(pscore[t]) is not in (0, 1]")
                }
            }
            for (i, v) in actionDistribution.enumerated() where !(v >= 0 && v.isFinite) {
                let (t, a, p) = (i / (actions * positions), (i / positions) % actions, i % positions)
                throw .invalidParameter("action_dist[\(t), \(a), \(p)] = \(v) is not a finite probability")
            }
            if let q = estimatedRewards, let i = q.firstIndex(where: { !$0.isFinite }) {
                let (t, a, p) = (i / (actions * positions), (i / positions) % actions, i % positions)
                throw .invalidParameter("estimated_rewards_by_reg_model[\(t), \(a), \(p)] is not finite")
            }
            (self.n, self.actions, self.positions) = (n, actions, positions)
            (self.action, self.position, self.reward, self.pscore) = (action, position, reward, pscore)
            (self.actionDistribution, self.estimatedRewards) = (actionDistribution, estimatedRewards)
        }

        @inline(__always) func index(_ t: Int, _ a: Int, _ p: Int) -> Int { (t * actions + a) * positions + p }

        /// The importance weight of round t.
        @inline(__always) func weight(_ t: Int) -> Double {
            actionDistribution[index(t, Int(action[t]), Int(position[t]))] / pscore[t]
        }

        /// numpy's `average(q̂_t(·), weights: π_e(· | p_t))`.
        func directTerm(_ t: Int, _ q: UnsafeBufferPointer<Double>) -> Double {
            let p = Int(position[t])
            var num = 0.0
            var den = 0.0
            for a in 0..<actions {
                let w = actionDistribution[index(t, a, p)]
                num += w * q[index(t, a, p)]
                den += w
            }
            return num / den
        }
    }

    /// The round rewards of `estimator` (their mean is its policy value), written to `out` (`n`).
    /// - Throws: `.invalidParameter` when the estimator needs estimated rewards and there are none,
    ///   or when a round's action distribution at its position sums to 0 (DM's weighted average
    ///   is undefined there).
    public static func roundRewards(
        _ estimator: Estimator, _ r: Rounds, into out: UnsafeMutableBufferPointer<Double>
    ) throws(RecOPEError) {
        precondition(out.count == r.n)
        if estimator.needsRewardModel {
            guard let q = r.estimatedRewards else {
                throw .invalidParameter("\(estimator) needs estimated_rewards_by_reg_model")
            }
            for t in 0..<r.n {
                let p = Int(r.position[t])
                var den = 0.0
                for a in 0..<r.actions { den += r.actionDistribution[r.index(t, a, p)] }
                guard den > 0 else {
                    throw .invalidParameter(
                        "action_dist[\(t), :, \(p)] sums to 0: the direct method's weighted average is undefined")
                }
            }
            var weightSum = 0.0
            for t in 0..<r.n { weightSum += r.weight(t) }
            let meanWeight = weightSum / Double(r.n)
            for t in 0..<r.n {
                let dm = r.directTerm(t, q)
                let factual = q[r.index(t, Int(r.action[t]), Int(r.position[t]))]
                let w = r.weight(t)
                switch estimator {
                case .dm: out[t] = dm
                case .dr(let lambda): out[t] = dm + min(w, lambda) * (r.reward[t] - factual)
                case .switchDR(let lambda): out[t] = dm + (w <= lambda ? 1 : 0) * w * (r.reward[t] - factual)
                case .sndr: out[t] = dm + w * (r.reward[t] - factual) / meanWeight
                case .dros(let lambda):
                    out[t] = dm + (lambda < .infinity ? lambda * w / (w * w + lambda) : w) * (r.reward[t] - factual)
                case .subGaussianDR(let lambda): out[t] = dm + w / (1 - lambda + lambda * w) * (r.reward[t] - factual)
                case .ipw, .snipw, .subGaussianIPW: break
                }
            }
            return
        }
        switch estimator {
        case .ipw(let lambda):
            for t in 0..<r.n { out[t] = r.reward[t] * min(r.weight(t), lambda) }
        case .snipw:
            var sum = 0.0
            for t in 0..<r.n { sum += r.weight(t) }
            let mean = sum / Double(r.n)
            for t in 0..<r.n { out[t] = r.reward[t] * r.weight(t) / mean }
        case .subGaussianIPW(let lambda):
            for t in 0..<r.n {
                let w = r.weight(t)
                out[t] = w / (1 - lambda + lambda * w) * r.reward[t]
            }
        default: break
        }
    }
}

extension ActionDistributionOPE {
    /// OBP's slate IPS row terms (`BaseSlateInverseProbabilityWeighting` and its self-normalised
    /// versions): per row r·w with w = `target` / `logging` (whole-slate probabilities for
    /// standard IPS, item-position ones for independent IPS, cascade ones for reward-interaction
    /// IPS). Self-normalised: w divided by the mean w of all rows (standard) or of the rows at
    /// the same position (independent, reward interaction), as OBP's classes do. The policy value
    /// is their sum over the number of slates; a slate's terms summed are its round reward.
    /// - Throws: `.invalidParameter` naming the argument and the row: different lengths, a
    ///   position outside 0..<`depth`, a reward that is not finite, a logging probability outside
    ///   (0, 1], a target one outside [0, 1].
    public static func slateRowTerms(
        _ weighting: SlateWeighting, selfNormalized: Bool, depth: Int, position: UnsafeBufferPointer<Int64>,
        reward: UnsafeBufferPointer<Double>, logging: UnsafeBufferPointer<Double>, target: UnsafeBufferPointer<Double>,
        into out: UnsafeMutableBufferPointer<Double>
    ) throws(RecOPEError) {
        let n = position.count
        guard [reward.count, logging.count, target.count, out.count].allSatisfy({ $0 == n }) else {
            throw .invalidParameter(
                "slate rows: position, reward, pscore and evaluation_policy_pscore differ in length")
        }
        guard depth >= 1 else { throw .invalidParameter("len_list must be at least 1, got \(depth)") }
        guard [.standard, .independent, .interaction].contains(weighting) else {
            throw .invalidParameter("slate row terms: \(weighting.rawValue) is not an OBP slate IPS estimator")
        }
        for i in 0..<n {
            guard position[i] >= 0 && position[i] < Int64(depth) else {
                throw .invalidParameter("position[\(i)] = \(position[i]) is outside 0..<len_list (\(depth))")
            }
            guard reward[i].isFinite else { throw .invalidParameter("reward[\(i)] = \(reward[i]) is not finite") }
            guard logging[i] > 0 && logging[i] <= 1 else {
                throw .invalidParameter("pscore[\(i)] = \(logging[i]) must be in (0, 1]")
            }
            guard target[i] >= 0 && target[i] <= 1 else {
                throw .invalidParameter("evaluation_policy_pscore[\(i)] = \(target[i]) must be in [0, 1]")
            }
        }
        for i in 0..<n { out[i] = target[i] / logging[i] }
        if selfNormalized {
            // Per position (one group for standard IPS); numpy's mean is a pairwise sum over the
            // group's rows in order, then a division.
            let groups = weighting == .standard ? 1 : depth
            for g in 0..<groups {
                let rows = (0..<n).filter { weighting == .standard || position[$0] == Int64(g) }
                guard !rows.isEmpty else { continue }
                let mean = numpyPairwiseSum(rows.map { out[$0] }) / Double(rows.count)
                for i in rows { out[i] = reward[i] * out[i] / mean }
            }
        } else {
            for i in 0..<n { out[i] = reward[i] * out[i] }
        }
    }

    /// numpy's `add.reduce` of a contiguous float64 array: blocks of 8 partial sums unrolled over
    /// 128-element leaves, halves summed recursively (`pairwise_sum`), so means match to the bit.
    static func numpyPairwiseSum(_ a: [Double]) -> Double {
        func sum(_ lo: Int, _ n: Int) -> Double {
            if n < 8 {
                var s = 0.0
                for i in lo..<(lo + n) { s += a[i] }
                return s
            } else if n <= 128 {
                var r = (0..<8).map { a[lo + $0] }
                var i = 8
                while i < n - (n % 8) {
                    for k in 0..<8 { r[k] += a[lo + i + k] }
                    i += 8
                }
                var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
                while i < n {
                    res += a[lo + i]
                    i += 1
                }
                return res
            } else {
                var n2 = n / 2
                n2 -= n2 % 8
                return sum(lo, n2) + sum(lo + n2, n - n2)
            }
        }
        return sum(0, a.count)
    }
}
