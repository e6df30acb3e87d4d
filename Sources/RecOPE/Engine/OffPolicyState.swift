import Foundation

/// The pass over the data an evaluation state belongs to.
///
/// Ratio estimators (IS, CIS, NCIS, SNIPS, pieceNCIS by position or context, pointNCIS) need one
/// pass. DM, DR, SwitchDR with the click-rate model, pieceNCIS by value-model buckets and the
/// unsupported-mass diagnostic need a second, once the model is fitted from the first pass's
/// merged counts. The logistic model takes one pass per Newton iteration (gradient and Hessian
/// are sums over rows; the first iteration shares the second pass) and a last one for its DM
/// and DR.
public enum EvaluationPass: Sendable, Equatable, Codable, CustomStringConvertible {
    case ratios
    case rewardModels
    case newton(iteration: Int)
    case logistic
    case done

    public var description: String {
        switch self {
        case .ratios: return "ratios"
        case .rewardModels: return "reward models"
        case .newton(let i): return "Newton iteration \(i + 1)"
        case .logistic: return "logistic DM/DR"
        case .done: return "done"
        }
    }
}

/// The settings a state was made with; states merge only when these are equal.
public struct StateSettings: Sendable, Equatable, Codable {
    public var caps: [Double]
    public var bootstrap: Int
    public var seed: UInt64
    public var switchThreshold: Double
    public var rewardSmoothing: Double
    public var level: Double
    public var logisticRewardModel: Bool
    public var pieceGroupings: [PieceGrouping]
    /// Fit the click-rate model in a second pass (DM, DR, SwitchDR, value-model pieces).
    public var rewardModels: Bool
    public var maxNewtonIterations: Int
    /// A hash of the item features given to the logistic model (0: none), and their shape:
    /// categories per categorical column, numeric column count.
    public var itemFeatures: UInt64
    public var itemCategories: [Int]
    public var itemNumeric: Int
    /// Items the policies rank and positions evaluated.
    public var items: Int
    public var depth: Int
    /// Per target policy its name and a hash of its marginals.
    public var policies: [String]
    public var policyHashes: [UInt64]
    /// A hash of the logging marginals (0: the logged propensities).
    public var logging: UInt64
}

/// Counts of the click-rate model: per fold (row-key hash) and (item, position) cell, exact, so
/// the fitted model does not depend on how rows were split.
public struct RewardCounts: Sendable, Equatable, Codable {
    public internal(set) var clicks: [[ExactSum]]
    public internal(set) var shows: [[Int]]

    init(cells: Int) {
        clicks = Array(repeating: Array(repeating: ExactSum(), count: cells), count: 2)
        shows = Array(repeating: Array(repeating: 0, count: cells), count: 2)
    }

    @inline(__always) mutating func add(fold: Int, cell: Int, reward: Double) {
        clicks[fold][cell].add(reward)
        shows[fold][cell] += 1
    }

    mutating func merge(_ o: RewardCounts) {
        for f in 0..<2 {
            for c in clicks[f].indices {
                clicks[f][c].add(o.clicks[f][c])
                shows[f][c] += o.shows[f][c]
            }
        }
    }
}

/// Weight diagnostics as sums: the largest weight, counts above caps, and the cap table's sums.
public struct WeightSums: Sendable, Equatable, Codable {
    static let tableCaps: [Double] = [1, 2, 5, 10, 20, 50, 100]
    public var maxWeight: Double = 0
    /// Caps of `above` (the table caps, then the evaluation's caps).
    public var aboveCaps: [Double]
    public var above: [Int]
    /// Per table cap: Σ min(w, c)·r and Σ min(w, c).
    public var capReward: [CompensatedSum]
    public var capWeight: [CompensatedSum]

    init(caps: [Double]) {
        aboveCaps = Self.tableCaps + caps
        above = Array(repeating: 0, count: aboveCaps.count)
        capReward = Array(repeating: CompensatedSum(), count: Self.tableCaps.count)
        capWeight = capReward
    }

    @inline(__always) mutating func add(weight w: Double, reward r: Double) {
        maxWeight = max(maxWeight, w)
        for i in aboveCaps.indices where w > aboveCaps[i] { above[i] += 1 }
        for i in Self.tableCaps.indices {
            let wc = min(w, Self.tableCaps[i])
            capReward[i].add(wc * r)
            capWeight[i].add(wc)
        }
    }

    mutating func merge(_ o: WeightSums) {
        maxWeight = max(maxWeight, o.maxWeight)
        for i in above.indices { above[i] += o.above[i] }
        for i in capReward.indices {
            capReward[i].add(o.capReward[i])
            capWeight[i].add(o.capWeight[i])
        }
    }
}

/// One target policy's sums, by pass.
public struct PolicySums: Sendable, Equatable, Codable {
    /// Pass 1: [1, w·r, w, per cap (min(w,c)·r, min(w,c), pointNCIS term)].
    public var ratio: SumBlock
    /// Pass 1: per position / context grouping, per group [1, per cap (min(w,c)·r, min(w,c))].
    public var pieces: [GroupedSums]
    public var weights: WeightSums
    /// Pass 2: [1, DM, DR, SwitchDR, unsupported mass] with the click-rate model.
    public var model: SumBlock?
    /// Pass 2: per value-model grouping, its buckets' piece sums.
    public var valuePieces: [GroupedSums]
    /// Last pass: [1, DM, DR] with the logistic model.
    public var logistic: SumBlock?
}

/// The logistic model's Newton state: the coefficients this pass evaluates at, and the sums of
/// the gradient and (upper-triangle, row-major) Hessian of the log-likelihood over rows.
public struct NewtonSums: Sendable, Equatable, Codable {
    public var design: LogisticDesign
    public var theta: [Double]
    public var gradient: [ExactSum]
    public var hessian: [ExactSum]
    /// Coefficients fitted (set when the iterations have converged).
    public var converged = false
}

/// Everything a shard contributes to an offline evaluation, and what earlier passes fitted.
///
/// A state is small (it grows with policies, caps, groups and bootstrap replicates, never with
/// rows), versioned and self-describing; `merge` adds the current pass's sums and requires
/// everything else to be equal.
public struct OffPolicyState: Sendable, Equatable, Codable {
    public static let formatName = "reckit-offline-ab-state"
    public static let currentVersion = 1

    public var format = OffPolicyState.formatName
    public var version = OffPolicyState.currentVersion
    public var settings: StateSettings
    public var pass: EvaluationPass = .ratios
    /// Passes completed before this one.
    public var completedPasses = 0
    /// The sources the rows came from (for the report).
    public var sources: [String] = []
    public var rows = 0
    public var rewardSum = ExactSum()
    public var counts: RewardCounts
    /// Per context column name, the rows per value (the logistic model's levels).
    public var contextLevels: [String: [String: Int]] = [:]
    public var policies: [PolicySums]
    /// Per value-model grouping, the bucket cut points of the cross-fitted predictions.
    public var valueCuts: [[Double]] = []
    public var newton: NewtonSums?
    /// Messages of the fitting steps (model skipped, not converged).
    public var notes: [String] = []
}
