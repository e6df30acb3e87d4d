import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Off-policy estimators of a ranking policy's click rate from logs of another policy.
///
/// Each logged row j is (item aⱼ at position kⱼ, reward rⱼ), with importance weight
/// wⱼ = P_B(aⱼ at kⱼ) / P_A(aⱼ at kⱼ) (target marginal over logging marginal or logged
/// propensity). With n rows:
/// - IS: (1/n) Σ wⱼrⱼ (unbiased, unbounded variance).
/// - CIS(c): (1/n) Σ min(wⱼ, c) rⱼ.
/// - NCIS(c): Σ min(wⱼ, c) rⱼ / Σ min(wⱼ, c); SNIPS is NCIS(∞) (Swaminathan & Joachims 2015).
/// - pieceNCIS(c): Σ_g (n_g/n) NCIS_g(c) over the rows of each position g
///   (Gilotte et al., "Offline A/B testing for Recommender Systems", WSDM 2018).
/// - pointNCIS(c): (1/n) Σ min(wⱼ, c) rⱼ / Z(kⱼ) with Z(k) = Σ_a min(P_B(a at k), c·P_A(a at k)),
///   the exact expected capped weight at position k (Gilotte et al. 2018); needs the logging
///   policy's marginals.
/// - DM: (1/n) Σ Σ_a P_B(a at kⱼ) q(a, kⱼ), with q the click rate per (item, position) smoothed
///   toward the position's mean by `rewardSmoothing` pseudo-impressions (fitted on the same logs).
/// - DR: DM + (1/n) Σ wⱼ (rⱼ − q(aⱼ, kⱼ)) (Dudík, Langford & Li 2011).
/// - SwitchDR(τ): DR with the correction kept only where wⱼ ≤ τ (Wang, Agarwal & Dudík 2017).
///
/// Every estimator is a function of sums over rows, so the evaluation streams: an
/// `OffPolicyAccumulator` reads rows into an `OffPolicyState` (sums per policy, cap and piece),
/// states of shards merge by addition, and the report is computed from the merged sums. The
/// ratio estimators need one pass; the reward models one more (the click-rate model) and one per
/// Newton iteration (the logistic model). In memory, `evaluate` runs those passes over the rows.
///
/// Intervals: normal (CLT; delta method for the ratios) and, with replicates, the percentile
/// Poisson bootstrap: replicate b weighs row j by W ~ Poisson(1) drawn from a hash of the row's
/// key, b and the seed, with every normaliser recomputed in every replicate. Its sums are exact
/// fixed point, so the intervals are bit-identical however the rows are split or ordered.
public enum OfflineEvaluation {
    /// Evaluates a target policy whose marginals do not depend on the context.
    /// - Parameters:
    ///   - logs: the logged rows (item, position, click, propensity).
    ///   - target: the target policy's rank marginals.
    ///   - name: the policy's name in the report.
    ///   - settings: estimators' caps, pieces, reward models, bootstrap and seed.
    ///   - logging: the logging policy's marginals; required when the logs carry no propensities,
    ///     and for pointNCIS.
    /// - Throws: `.invalidParameter` naming the log and row for an item or position the policy
    ///   does not know, a zero logging probability for a logged pair, or empty logs.
    public static func evaluate(
        logs: LoggedData, target: RankMarginals, policy name: String,
        logging: RankMarginals? = nil, settings: EvaluationSettings = .init()
    ) throws(RecOPEError) -> PolicyEvaluation {
        try evaluate(
            logs: logs, targets: [target], targetState: nil, policy: name,
            logging: logging.map { [$0] }, loggingState: nil, settings: settings)
    }

    /// Evaluates a target policy whose marginals change with the context or over time: row j is
    /// ranked by `targets[targetState[j]]` and was logged under `logging[loggingState[j]]` (or
    /// its logged propensity). Nil state arrays mean state 0 for every row.
    /// - Throws: as `evaluate(logs:target:policy:logging:settings:)`, and `.invalidParameter` for
    ///   a state index outside the lists.
    public static func evaluate(
        logs: LoggedData, targets: [RankMarginals], targetState: [Int32]?, policy name: String,
        logging: [RankMarginals]?, loggingState: [Int32]?,
        settings: EvaluationSettings = .init()
    ) throws(RecOPEError) -> PolicyEvaluation {
        let report = try evaluate(
            logs: logs, policies: [TargetPolicy(name: name, marginals: targets)], targetStates: [targetState],
            logging: logging, loggingState: loggingState, settings: settings)
        var e = report.evaluations[0]
        e.warnings = report.warnings.map { "\(name): \($0)" } + e.warnings
        return e
    }

    /// Evaluates several target policies on in-memory logs, every pass over the same rows.
    /// - Parameters:
    ///   - logs: the logged rows.
    ///   - policies: the target policies, each with one or more marginals.
    ///   - targetStates: per policy, each row's index into its marginals (nil: state 0).
    ///   - logging: the logging policy's marginals (nil: the logged propensities).
    ///   - loggingState: each row's index into `logging` (nil: state 0).
    ///   - settings: estimators' caps, pieces, reward models, bootstrap and seed.
    /// - Throws: as `evaluate(logs:target:policy:logging:settings:)`.
    public static func evaluate(
        logs: LoggedData, policies: [TargetPolicy], targetStates: [[Int32]?]?,
        logging: [RankMarginals]?, loggingState: [Int32]?,
        settings: EvaluationSettings = .init()
    ) throws(RecOPEError) -> OfflineABReport {
        let n = logs.count
        guard n > 0 else { throw .invalidParameter("\(logs.source): the log has no rows") }
        guard logs.propensities != nil || logging != nil else {
            throw .invalidParameter("\(logs.source): the log has no propensities; give the logging policy")
        }
        guard (targetStates ?? []).allSatisfy({ $0.map { $0.count == n } ?? true }),
            loggingState.map({ $0.count == n }) ?? true
        else {
            throw .invalidParameter(
                "\(policies.first?.name ?? "policy"): state arrays must have one entry per logged row")
        }
        let evaluator = try OffPolicyEvaluator(targets: policies, logging: logging, settings: settings)
        return try evaluator.evaluate { (acc: inout OffPolicyAccumulator) throws(RecOPEError) in
            for start in stride(from: 0, to: n, by: 65536) {
                let range = start..<min(n, start + 65536)
                var c = logs.chunk(range)
                c.targetStates = (targetStates ?? []).map { $0.map { Array($0[range]) } }
                c.loggingStates = loggingState.map { Array($0[range]) }
                try acc.add(c)
            }
        }
    }

}
