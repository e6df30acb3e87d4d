import RecCore
import RecNN

/// Sampled softmax with the logQ correction (Yi et al., RecSys 2019): each transition's target
/// against K sampled negatives, logits corrected by log(K·q) (q: the sampler's probability of
/// the item; uniform sampling's correction cancels). O(B·K·d) a step; `CatalogHead.sampledLoss`.
struct SampledSoftmax: SupervisedLoss {
    let sampler: NegativeDrawer
    let negatives: Int
    let shared: Bool

    func loss(
        head: CatalogHead, states: Matrix, targets: [Int], weights: [Float]?, normalizer: Int, draw: NegativeDraw
    ) throws(RecRLError) -> SupervisedLossResult {
        try sampledLoss(
            head: head, states: states, targets: targets, weights: weights, normalizer: normalizer, draw: draw,
            sampler: sampler, negatives: negatives, shared: shared, kind: .softmax,
            logQ: sampler.logQ(negatives: negatives))
    }
}

/// The shared steps of the sampled objectives: draw each transition's negatives, then the head's
/// sampled loss.
func sampledLoss(
    head: CatalogHead, states: Matrix, targets: [Int], weights: [Float]?, normalizer: Int, draw: NegativeDraw,
    sampler: NegativeDrawer, negatives: Int, shared: Bool, kind: SampledLoss, logQ: [Float]?
) throws(RecRLError) -> SupervisedLossResult {
    let clock = ContinuousClock()
    let start = clock.now
    let negs: SampledNegatives =
        shared
        ? .shared(sampler.drawShared(count: negatives, seed: draw.seed, step: draw.step))
        : .perState(
            targets.enumerated().map { b, t in
                sampler.draw(
                    count: negatives, target: t, seed: draw.seed, step: draw.step, sample: draw.firstSample + b)
            })
    do {
        let (l, dS) = try head.sampledLoss(
            states: states, targets: targets, sampled: negs, kind: kind, logQ: logQ, weights: weights,
            normalizer: normalizer)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return SupervisedLossResult(loss: l, dStates: dS, seconds: (seconds / 3, 2 * seconds / 3))
    } catch { throw .model("\(error)") }
}
