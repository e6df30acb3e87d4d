import RecCore

/// What `reckit train --algo` names: the five algorithms, and GRU4Rec trained by its authors'
/// recipe.
public enum TrainingMethod: String, NamedChoice {
    /// Supervised cross-entropy (`Algorithm.ce`).
    case ce
    /// `Algorithm.sqn`.
    case sqn
    /// `Algorithm.sac`.
    case sac
    /// `Algorithm.snqn`.
    case snqn
    /// `Algorithm.sa2c`.
    case sa2c
    /// GRU4Rec (Hidasi et al., ICLR 2016; Hidasi & Karatzoglou, CIKM 2018) as its official code
    /// trains it: `Algorithm.ce`'s single network with the GRU encoder, the BPR-max loss over the
    /// batch's other targets and 2,048 shared popularity^0.5 draws (ELU 0.5, score
    /// regularization 1), Adagrad (learning rate 0.05, momentum 0), no dropout, batch 64: the
    /// defaults of its `GRU4Rec` class. Each can be changed (`--objective`, `--optimizer`,
    /// `--momentum`, `--lr`, ...), and `reckit tune` searches them as the authors' parameter
    /// spaces do.
    case gru4rec

    /// The algorithm that trains it.
    public var algorithm: Algorithm {
        switch self {
        case .ce, .gru4rec: return .ce
        case .sqn: return .sqn
        case .sac: return .sac
        case .snqn: return .snqn
        case .sa2c: return .sa2c
        }
    }
}

extension TrainingJob {
    /// GRU4Rec's defaults, as `TrainingMethod.gru4rec` lists them.
    public static let gru4recObjective = SupervisedObjective.bprMax(
        negatives: SupervisedObjective.defaultBPRMaxNegatives, sampler: .popularity(alpha: 0.5),
        elu: SupervisedObjective.defaultELU, regularization: SupervisedObjective.defaultBPRRegularization)

    /// Sets the algorithm of `method` and, for GRU4Rec, its recipe (encoder, objective,
    /// optimiser, learning rate, dropout, batch); options applied after this replace them.
    public mutating func apply(_ method: TrainingMethod) {
        model.algorithm = method.algorithm
        guard method == .gru4rec else { return }
        model.encoder = .gru
        model.dropout = 0
        settings.objective = Self.gru4recObjective
        settings.optimizer = .adagrad(momentum: 0)
        settings.learningRate = 0.05
        settings.batch = 64
    }
}
