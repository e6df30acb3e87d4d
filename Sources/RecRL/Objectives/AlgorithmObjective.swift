/// What a training algorithm adds to the supervised next-item loss: whether it has a Q head and
/// samples negative actions for it, and how it weights the supervised loss after the warm-up.
/// One type per algorithm, each in its own file (`CEObjective`, `SQNObjective`, `SACObjective`,
/// `SNQNObjective`, `SA2CObjective`); `Algorithm.objective` names them. The trainer asks these
/// questions instead of testing which algorithm it runs.
public protocol AlgorithmObjective: Sendable {
    /// Whether the model has a Q head trained by the one-step double Q-learning TD loss (and two
    /// networks, main and target, chosen by a coin flip each step).
    var usesQ: Bool { get }
    /// Whether the TD loss adds `TrainingSettings.negatives` sampled actions per transition with
    /// reward 0 and next state = state (SNQN, SA2C).
    var usesNegatives: Bool { get }
    /// Whether, after the warm-up, the supervised loss of each transition is weighted
    /// (`supervisedWeights`).
    var weightsSupervisedLoss: Bool { get }
    /// Whether the second phase steps a second optimiser at `TrainingSettings.learningRate2`.
    var hasSecondOptimizer: Bool { get }
    /// The second phase's weights of the supervised loss from the Q values of each transition's
    /// columns (the action's first, then its negatives'), held constant (no gradient).
    func supervisedWeights(_ q: [[Float]], settings: TrainingSettings) -> [Float]
}

extension AlgorithmObjective {
    public var usesNegatives: Bool { false }
    public var weightsSupervisedLoss: Bool { false }
    public var hasSecondOptimizer: Bool { false }
    public func supervisedWeights(_ q: [[Float]], settings: TrainingSettings) -> [Float] {
        [Float](repeating: 1, count: q.count)
    }
}

extension Algorithm {
    /// The algorithm's rules.
    public var objective: any AlgorithmObjective {
        switch self {
        case .ce: return CEObjective()
        case .sqn: return SQNObjective()
        case .sac: return SACObjective()
        case .snqn: return SNQNObjective()
        case .sa2c: return SA2CObjective()
        }
    }
}
