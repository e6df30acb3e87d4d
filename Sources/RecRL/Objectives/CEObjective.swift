/// Supervised cross-entropy on the next item (SASRec's objective): no Q head.
public struct CEObjective: AlgorithmObjective {
    public init() {}
    public var usesQ: Bool { false }
}
