/// SA2C (Xin et al., WSDM 2022): SNQN, and after the warm-up each transition's supervised loss
/// is weighted by its advantage Q(s, a) − mean of Q over the action and its negatives, clipped
/// to [advantageClip, 10], with a second optimiser at `learningRate2`.
public struct SA2CObjective: AlgorithmObjective {
    public init() {}
    public var usesQ: Bool { true }
    public var usesNegatives: Bool { true }
    public var weightsSupervisedLoss: Bool { true }
    public var hasSecondOptimizer: Bool { true }
    public func supervisedWeights(_ q: [[Float]], settings: TrainingSettings) -> [Float] {
        let lo = settings.advantageClip
        return q.map { row in
            let mean = row.reduce(0, +) / Float(row.count)
            return Swift.min(10, Swift.max(lo, row[0] - mean))
        }
    }
}
