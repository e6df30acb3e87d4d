/// SQN (Xin et al., SIGIR 2020): the supervised head plus a Q head trained by one-step double
/// Q-learning on the same encoder; the supervised loss is never weighted.
public struct SQNObjective: AlgorithmObjective {
    public init() {}
    public var usesQ: Bool { true }
}
