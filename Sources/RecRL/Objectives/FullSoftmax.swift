import RecCore
import RecNN

/// Softmax cross-entropy over the whole catalog (SASRec's, and the default):
/// ℓ_b = log Σ_i exp z_bi − z_b,target. O(N·B·d) a step (`CatalogHead.crossEntropy`, fused and
/// blocked); exact at any N.
struct FullSoftmax: SupervisedLoss {
    func loss(
        head: CatalogHead, states: Matrix, targets: [Int], weights: [Float]?, normalizer: Int, draw: NegativeDraw
    ) throws(RecRLError) -> SupervisedLossResult {
        do {
            let (ce, dS) = try head.crossEntropy(
                states: states, targets: targets, weights: weights, normalizer: normalizer)
            return SupervisedLossResult(
                loss: ce, dStates: dS,
                seconds: (head.lastCrossEntropySeconds.forward, head.lastCrossEntropySeconds.backward))
        } catch { throw .model("\(error)") }
    }
}
