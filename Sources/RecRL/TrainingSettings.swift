import RecCore
import RecIO
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Hyper-parameters of training (defaults: the papers', with the README's MovieLens protocol
/// values for the learning rate).
public struct TrainingSettings: Sendable, Equatable {
    /// Transitions per batch.
    public var batch = 256
    /// The optimiser's learning rate.
    public var learningRate: Float = 0.005
    /// The optimiser: Adam (default) or Adagrad with momentum (GRU4Rec's).
    public var optimizer: OptimizerChoice = .adam
    /// SA2C's second learning rate (after the warm-up).
    public var learningRate2: Float = 0.001
    /// Negatives per transition (SNQN, SA2C's Q head).
    public var negatives = 10
    /// The supervised head's objective: the full softmax (default) or a sampled one, whose
    /// head and item-embedding rows are updated lazily (only the rows a step touched).
    public var objective: SupervisedObjective = .softmax
    /// A sampled objective's negatives: one list the whole batch shares (true, TensorFlow's
    /// `sampled_softmax_loss`'s way: K rows gathered and updated a step), or a list per transition
    /// (false, gSASRec's way: up to B·K rows).
    public var sharedNegatives = true
    /// Steps before SAC / SA2C switch to the weighted supervised loss. nil: the authors' 15,000,
    /// capped at half the run's steps so that a short run still reaches the second phase.
    public var warmupSteps: Int? = nil
    /// SA2C's advantage is clipped to [advantageClip, 10] (the authors' clip, default 0).
    public var advantageClip: Float = 0
    /// Weight of the Q losses.
    public var qWeight: Float = 1
    /// Adam moves every embedding row each step, as the authors' TensorFlow optimiser (and
    /// PyTorch's Adam) do; false updates only the rows of the batch (lazy, faster at large N).
    /// A sampled objective always updates lazily.
    public var denseEmbeddingUpdates = true
    /// Evaluate the catalog columns each loss needs only (false: full Q matrices, for tests).
    public var leanColumns = true
    /// Seeds initialisation, batch order, dropout and negatives.
    public var seed: UInt64 = 1
    /// Seed of the dropout masks (nil: derived from `seed`).
    public var dropoutSeed: UInt64? = nil
    /// Parts a batch is computed in (by threads side by side, or by the processes of a group),
    /// their gradients added in a fixed order: the result depends on this, not on the threads
    /// or processes (which must divide it).
    public var batchParts = 2
    /// The defaults.
    public init() {}

    func warmup(totalSteps: Int) -> Int { warmupSteps ?? min(15_000, totalSteps / 2) }
}

/// The optimiser of a training run.
public enum OptimizerChoice: Sendable, Equatable, CustomStringConvertible {
    /// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 10⁻⁸).
    case adam
    /// Adagrad with momentum μ in [0, 1) (GRU4Rec's `IndexedAdagradM`, ε = 10⁻⁶).
    case adagrad(momentum: Float)

    /// "adam", "adagrad (momentum 0.4)".
    public var description: String {
        switch self {
        case .adam: return "adam"
        case .adagrad(let m): return "adagrad (momentum \(m))"
        }
    }

    /// `adam` or `adagrad`, with `momentum` (Adagrad's only; nil: 0).
    /// - Throws: `.invalidParameter` naming `--optimizer` or `--momentum`.
    public static func named(_ name: String, momentum: Float?) throws(RecRLError) -> OptimizerChoice {
        switch name {
        case "adam":
            if momentum != nil { throw .invalidParameter("--momentum: it goes with --optimizer adagrad") }
            return .adam
        case "adagrad":
            let m = momentum ?? 0
            guard m >= 0 && m < 1 else { throw .invalidParameter("--momentum: must be in [0, 1), got \(m)") }
            return .adagrad(momentum: m)
        default: throw .invalidParameter("--optimizer: unknown optimiser '\(clipped(name))' (adam or adagrad)")
        }
    }

    /// The optimiser over `parameters` at `learningRate`.
    func make(_ parameters: [Parameter], learningRate: Float) -> any Optimizer {
        switch self {
        case .adam: return Adam(parameters: parameters, learningRate: learningRate)
        case .adagrad(let m): return Adagrad(parameters: parameters, learningRate: learningRate, momentum: m)
        }
    }
}
