import RecCore
import RecNN

/// gBCE (gSASRec, Petrov & Macdonald, RecSys 2023): binary cross-entropy over each transition's
/// target and K sampled negatives with the target's probability raised to β,
/// β = α(t(1 − 1/α) + 1/α), α = K / (N − 1) the sampling rate and t the calibration (t = 0 gives
/// β = 1, plain BCE; t = 1 gives β = α). Summed over the K + 1 logits (gSASRec's code takes the
/// mean: see `SampledLoss.generalizedBCE`).
struct GBCE: SupervisedLoss {
    let sampler: NegativeDrawer
    let negatives: Int
    let shared: Bool
    let beta: Double

    init(sampler: NegativeDrawer, negatives: Int, shared: Bool, t: Double, items: Int) {
        self.sampler = sampler
        self.negatives = negatives
        self.shared = shared
        let alpha = Double(negatives) / Double(max(1, items - 1))
        beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
    }

    func loss(
        head: CatalogHead, states: Matrix, targets: [Int], weights: [Float]?, normalizer: Int, draw: NegativeDraw
    ) throws(RecRLError) -> SupervisedLossResult {
        try sampledLoss(
            head: head, states: states, targets: targets, weights: weights, normalizer: normalizer, draw: draw,
            sampler: sampler, negatives: negatives, shared: shared, kind: .generalizedBCE(beta: beta), correction: nil)
    }
}
