/// SAC (Xin et al., SIGIR 2020): SQN, and after the warm-up each transition's supervised loss
/// is weighted by the stop-gradient Q(s, a) of its action.
public struct SACObjective: AlgorithmObjective {
    public init() {}
    public var usesQ: Bool { true }
    public var weightsSupervisedLoss: Bool { true }
    public func supervisedWeights(_ q: [[Float]], settings: TrainingSettings) -> [Float] { q.map { $0[0] } }
}
