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
        if sampler.sampler.usesBatch {
            // The batch's targets (and, mixed, K uniform draws), shared; corrected by their
            // expected counts.
            var list = draw.batchTargets
            if sampler.sampler == .mixed {
                list += sampler.drawShared(count: negatives, seed: draw.seed, step: draw.step)
            }
            return try timedLoss(
                head: head, states: states, targets: targets, sampled: .shared(list), kind: .softmax,
                correction: sampler.batchCorrection(batch: draw.batchTargets.count, negatives: negatives),
                weights: weights, normalizer: normalizer)
        }
        let logQ = sampler.logQ(negatives: negatives)
        return try sampledLoss(
            head: head, states: states, targets: targets, weights: weights, normalizer: normalizer, draw: draw,
            sampler: sampler, negatives: negatives, shared: shared, kind: .softmax,
            correction: logQ.map { q in { q[$0] } })
    }
}

/// The shared steps of the sampled objectives: draw each transition's negatives, then the head's
/// sampled loss.
func sampledLoss(
    head: CatalogHead, states: Matrix, targets: [Int], weights: [Float]?, normalizer: Int, draw: NegativeDraw,
    sampler: NegativeDrawer, negatives: Int, shared: Bool, kind: SampledLoss, correction: ((Int) -> Float)?
) throws(RecRLError) -> SupervisedLossResult {
    let negs: SampledNegatives =
        shared
        ? .shared(sampler.drawShared(count: negatives, seed: draw.seed, step: draw.step))
        : .perState(
            targets.enumerated().map { b, t in
                sampler.draw(
                    count: negatives, target: t, seed: draw.seed, step: draw.step, sample: draw.firstSample + b)
            })
    return try timedLoss(
        head: head, states: states, targets: targets, sampled: negs, kind: kind, correction: correction,
        weights: weights, normalizer: normalizer)
}

/// The head's sampled loss, timed (a third of it reported as the head's forward).
func timedLoss(
    head: CatalogHead, states: Matrix, targets: [Int], sampled: SampledNegatives, kind: SampledLoss,
    correction: ((Int) -> Float)?, weights: [Float]?, normalizer: Int
) throws(RecRLError) -> SupervisedLossResult {
    let clock = ContinuousClock()
    let start = clock.now
    do {
        let (l, dS) = try head.sampledLoss(
            states: states, targets: targets, sampled: sampled, kind: kind, correction: correction,
            weights: weights, normalizer: normalizer)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return SupervisedLossResult(loss: l, dStates: dS, seconds: (seconds / 3, 2 * seconds / 3))
    } catch { throw .model("\(error)") }
}
