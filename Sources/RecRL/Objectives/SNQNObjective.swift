/// SNQN (Xin et al., WSDM 2022): SQN plus K sampled negative actions per transition in the TD
/// loss, each with reward 0 and next state = state.
public struct SNQNObjective: AlgorithmObjective {
    public init() {}
    public var usesQ: Bool { true }
    public var usesNegatives: Bool { true }
}
