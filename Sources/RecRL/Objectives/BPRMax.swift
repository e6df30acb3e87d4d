import RecCore
import RecNN

/// BPR-max (Hidasi & Karatzoglou, CIKM 2018), GRU4Rec's loss: each transition's target against
/// the batch's other targets and `negatives` extra items the batch shares, drawn by `sampler`
/// (uniform, or popularity^α: GRU4Rec's `n_sample` and `sample_alpha`), with the logits through
/// ELU (`elu`: GRU4Rec's `elu_param`) and the score regularization λ (`bpreg`).
/// `CatalogHead.sampledLoss` with `SampledLoss.bprMax`.
struct BPRMax: SupervisedLoss {
    let sampler: NegativeDrawer
    let negatives: Int
    let elu: Double
    let regularization: Double

    func loss(
        head: CatalogHead, states: Matrix, targets: [Int], weights: [Float]?, normalizer: Int, draw: NegativeDraw
    ) throws(RecRLError) -> SupervisedLossResult {
        // The whole batch's targets (a transition's own target is left out of its list by the
        // head, as GRU4Rec masks the diagonal), then the shared draws.
        let list = draw.batchTargets + sampler.drawShared(count: negatives, seed: draw.seed, step: draw.step)
        return try timedLoss(
            head: head, states: states, targets: targets, sampled: .shared(list),
            kind: .bprMax(elu: elu, regularization: regularization), correction: nil, weights: weights,
            normalizer: normalizer)
    }
}
