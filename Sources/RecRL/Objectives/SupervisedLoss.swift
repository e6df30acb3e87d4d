import RecCore
import RecNN

/// The supervised head's loss over the catalog: one type per objective, each in its own file
/// (`FullSoftmax`, `SampledSoftmax`, `GBCE`), chosen by `TrainingSettings.objective`.
///
/// A loss adds its gradient into the head's parameters (`weight`, `bias`) and returns the
/// gradient of the states. Its value is a sum over the part's transitions divided by
/// `normalizer` (the whole batch's size), so the parts of a batch add up to the batch.
protocol SupervisedLoss {
    /// The loss of `states` (B × d) predicting `targets` (item ids 1...N) through `head`; each
    /// transition's term multiplied by `weights[b]` when given (SAC, SA2C's second phase).
    /// `draw` gives the sampled objectives their negatives (by transition, never by thread).
    func loss(
        head: CatalogHead, states: Matrix, targets: [Int], weights: [Float]?, normalizer: Int, draw: NegativeDraw
    ) throws(RecRLError) -> SupervisedLossResult
}

/// A supervised loss's value, the gradient of the states, and where its time went.
struct SupervisedLossResult {
    var loss: Double
    var dStates: Matrix
    /// Seconds of the head's forward and backward.
    var seconds: (forward: Double, backward: Double)
}

/// Where a part's negatives come from: the run's seed, the step and each transition's index in
/// the batch, so a part, a thread or a process draws what one process draws.
struct NegativeDraw {
    var seed: UInt64
    var step: Int
    /// The index in the batch of the part's first transition.
    var firstSample: Int
    /// The whole batch's targets (in-batch negatives).
    var batchTargets: [Int] = []
}
