import RecCore
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The supervised head's training objective (`TrainingSettings.objective`).
///
/// The sampled objectives score each transition's target and `negatives` sampled items instead
/// of the whole catalog: O(B·K·d) a step instead of O(B·N·d), and the head's and the item
/// embedding's gradients fill only the rows of the batch's items and negatives, which a lazy
/// Adam then updates (per-row step counts, as PyTorch's SparseAdam): no O(N) work a step.
/// Evaluation stays exact (full-catalog ranking).
public enum SupervisedObjective: Sendable, Equatable, CustomStringConvertible {
    /// Softmax cross-entropy over the whole catalog (the default).
    case softmax
    /// Sampled softmax with the logQ correction (Yi et al., RecSys 2019).
    case sampledSoftmax(negatives: Int, sampler: NegativeSampler)
    /// gBCE with calibration t (gSASRec, Petrov & Macdonald, RecSys 2023: 256 negatives, t = 0.75).
    case gbce(negatives: Int, t: Double, sampler: NegativeSampler)
    /// BPR-max (GRU4Rec's loss, Hidasi & Karatzoglou, CIKM 2018): the batch's other targets plus
    /// `negatives` shared draws from `sampler` (uniform or popularity^α; 0 for in-batch only),
    /// logits through ELU with parameter `elu` (0: none), score regularization `regularization`.
    case bprMax(negatives: Int, sampler: NegativeSampler, elu: Double, regularization: Double)

    /// The negatives a sampled objective draws per transition (gSASRec's default).
    public static let defaultNegatives = 256
    /// gSASRec's calibration.
    public static let defaultCalibration = 0.75
    /// GRU4Rec's extra negatives (`n_sample`).
    public static let defaultBPRMaxNegatives = 2048
    /// GRU4Rec's ELU parameter for BPR-max (`elu_param`).
    public static let defaultELU = 0.5
    /// GRU4Rec's score regularization (`bpreg`).
    public static let defaultBPRRegularization = 1.0

    /// Whether the objective samples negatives (and trains sparse rows).
    public var isSampled: Bool { self != .softmax }

    /// The sampler (nil for the full softmax).
    public var sampler: NegativeSampler? {
        switch self {
        case .softmax: return nil
        case .sampledSoftmax(_, let s), .gbce(_, _, let s), .bprMax(_, let s, _, _): return s
        }
    }

    /// Negatives per transition (0 for the full softmax).
    public var negatives: Int {
        switch self {
        case .softmax: return 0
        case .sampledSoftmax(let k, _), .gbce(let k, _, _), .bprMax(let k, _, _, _): return k
        }
    }

    /// "softmax", "sampled-softmax (256 negatives, uniform)", "gbce (256 negatives, t = 0.75, uniform)".
    public var description: String {
        switch self {
        case .softmax: return "softmax"
        case .sampledSoftmax(let k, let s): return "sampled-softmax (\(k) negatives, \(s))"
        case .gbce(let k, let t, let s): return "gbce (\(k) negatives, t = \(t), \(s))"
        case .bprMax(let k, let s, let a, let l):
            return "bpr-max (in-batch and \(k) negatives, \(s), ELU \(a), regularization \(l))"
        }
    }

    /// The same objective with some of its options replaced (nil: kept); an option it does not
    /// have is ignored (`TrainingJob.set` checks first).
    func replacing(
        negatives k2: Int? = nil, sampler s2: NegativeSampler? = nil, elu a2: Double? = nil,
        regularization l2: Double? = nil
    ) -> SupervisedObjective {
        switch self {
        case .softmax: return .softmax
        case .sampledSoftmax(let k, let s): return .sampledSoftmax(negatives: k2 ?? k, sampler: s2 ?? s)
        case .gbce(let k, let t, let s): return .gbce(negatives: k2 ?? k, t: t, sampler: s2 ?? s)
        case .bprMax(let k, let s, let a, let l):
            return .bprMax(negatives: k2 ?? k, sampler: s2 ?? s, elu: a2 ?? a, regularization: l2 ?? l)
        }
    }

    /// Whether the loss takes the batch's targets as negatives (in-batch, mixed, BPR-max).
    var usesBatchTargets: Bool {
        if case .bprMax = self { return true }
        return sampler?.usesBatch == true
    }

    /// The objective named `name` (`softmax`, `sampled-softmax`, `gbce` or `bpr-max`) with its
    /// options (`elu` and `regularization` are BPR-max's; nil: GRU4Rec's defaults).
    /// - Throws: `.invalidParameter` for an unknown name, listing the valid ones.
    public static func named(
        _ name: String, negatives: Int?, t: Double?, sampler: NegativeSampler, elu: Double? = nil,
        regularization: Double? = nil
    ) throws(RecRLError) -> SupervisedObjective {
        switch name {
        case "softmax": return .softmax
        case "sampled-softmax": return .sampledSoftmax(negatives: negatives ?? defaultNegatives, sampler: sampler)
        case "gbce":
            return .gbce(negatives: negatives ?? defaultNegatives, t: t ?? defaultCalibration, sampler: sampler)
        case "bpr-max":
            return .bprMax(
                negatives: negatives ?? defaultBPRMaxNegatives, sampler: sampler, elu: elu ?? defaultELU,
                regularization: regularization ?? defaultBPRRegularization)
        default:
            throw .invalidParameter(
                "unknown objective '\(clipped(name))' (softmax, sampled-softmax, gbce or bpr-max)")
        }
    }

    /// The objective the command-line options name (`--objective`, `--negatives`, `--gbce-t`,
    /// `--sampler`, `--elu`, `--bpr-reg`: nil for an option not given).
    /// - Throws: `.invalidParameter` naming the option: an unknown objective or sampler, an
    ///   option that goes with another objective, fewer than 1 negative (0 for BPR-max), t outside
    ///   (0, 1], a negative or non-finite ELU parameter or regularization.
    public static func options(
        _ name: String, negatives: Int?, t: Double?, sampler: String?, elu: Double? = nil,
        regularization: Double? = nil
    ) throws(RecRLError) -> SupervisedObjective {
        let s: NegativeSampler
        do { s = try NegativeSampler.parse(sampler ?? "uniform") } catch {
            throw .invalidParameter("--sampler: \(error)")
        }
        let o: SupervisedObjective
        do {
            o = try named(name, negatives: negatives, t: t, sampler: s, elu: elu, regularization: regularization)
        } catch {
            throw .invalidParameter("--objective: \(error)")
        }
        if t != nil, case .gbce = o {
        } else if t != nil {
            throw .invalidParameter("--gbce-t: it goes with --objective gbce")
        }
        let bpr: Bool
        if case .bprMax = o { bpr = true } else { bpr = false }
        if !bpr && elu != nil { throw .invalidParameter("--elu: it goes with --objective bpr-max") }
        if !bpr && regularization != nil { throw .invalidParameter("--bpr-reg: it goes with --objective bpr-max") }
        if case .gbce = o, s.usesBatch {
            throw .invalidParameter("--sampler: \(s) goes with --objective sampled-softmax")
        }
        if bpr && s.usesBatch {
            throw .invalidParameter(
                "--sampler: bpr-max always takes the batch's targets; --sampler draws its extra negatives (uniform or popularity:ALPHA)"
            )
        }
        if !o.isSampled, let sampler, sampler != "uniform" {
            throw .invalidParameter("--sampler: it goes with a sampled --objective (sampled-softmax, gbce or bpr-max)")
        }
        if o.isSampled, let k = negatives, k < (bpr ? 0 : 1) {
            throw .invalidParameter("--negatives: a sampled objective needs at least \(bpr ? 0 : 1), got \(k)")
        }
        if let elu, !(elu >= 0 && elu.isFinite) {
            throw .invalidParameter("--elu: must be finite and at least 0, got \(elu)")
        }
        if let regularization, !(regularization >= 0 && regularization.isFinite) {
            throw .invalidParameter("--bpr-reg: must be finite and at least 0, got \(regularization)")
        }
        if let t, !(t > 0 && t <= 1) { throw .invalidParameter("--gbce-t: must be in (0, 1], got \(t)") }
        return o
    }

    /// Checks the objective against a catalog of `items` items.
    /// - Throws: `.invalidParameter` naming the option: negatives outside 1..<items, t outside
    ///   (0, 1], α < 0.
    public func validate(items: Int) throws(RecRLError) {
        guard isSampled else { return }
        let k = negatives
        if case .bprMax(_, let s, let a, let l) = self {
            // Drawn with replacement, as GRU4Rec's: more draws than items are allowed.
            guard k >= 0 && k <= 1_000_000 else {
                throw .invalidParameter("negatives must be in 0...1000000 for bpr-max, got \(k)")
            }
            guard !s.usesBatch else {
                throw .invalidParameter(
                    "bpr-max always takes the batch's targets; its sampler draws the extra negatives (uniform or popularity), not \(s)"
                )
            }
            guard a >= 0 && a.isFinite else {
                throw .invalidParameter("BPR-max's ELU parameter must be finite and at least 0, got \(a)")
            }
            guard l >= 0 && l.isFinite else {
                throw .invalidParameter("BPR-max's regularization must be finite and at least 0, got \(l)")
            }
            try s.validate()
            return
        }
        guard k >= 1 && k < items else {
            throw .invalidParameter(
                "negatives must be in 1...\(max(1, items - 1)) for a sampled objective over \(items) items, got \(k)")
        }
        switch self {
        case .gbce(_, let t, let s):
            guard t > 0 && t <= 1 else { throw .invalidParameter("gBCE calibration t must be in (0, 1], got \(t)") }
            guard !s.usesBatch else {
                throw .invalidParameter(
                    "the \(s) sampler goes with sampled-softmax (gBCE's calibration assumes uniform or popularity sampling)"
                )
            }
            try s.validate()
        case .sampledSoftmax(_, let s): try s.validate()
        case .softmax, .bprMax: break
        }
    }

    /// The loss that trains the supervised head, its sampler built from the training data;
    /// `shared`: one list of negatives for the whole batch (else a list per transition).
    func makeLoss(items: Int, data: Transitions, shared: Bool) -> any SupervisedLoss {
        switch self {
        case .softmax: return FullSoftmax()
        case .sampledSoftmax(let k, let s):
            return SampledSoftmax(sampler: NegativeDrawer(s, items: items, data: data), negatives: k, shared: shared)
        case .gbce(let k, let t, let s):
            return GBCE(
                sampler: NegativeDrawer(s, items: items, data: data), negatives: k, shared: shared, t: t, items: items)
        case .bprMax(let k, let s, let a, let l):
            return BPRMax(
                sampler: NegativeDrawer(s, items: items, data: data), negatives: k, elu: a, regularization: l)
        }
    }
}

/// How a sampled objective draws its negatives.
public enum NegativeSampler: Sendable, Equatable, CustomStringConvertible {
    /// Every item but the target equally likely.
    case uniform
    /// Items in proportion to (their count among the training targets)^α; α = 0 is uniform
    /// over the items seen in training.
    case popularity(alpha: Double)
    /// The batch's targets (Yi et al., RecSys 2019): every transition's negatives are the other
    /// transitions' targets, their expected count B·q_i with q the targets' training frequency
    /// (sampled softmax, shared negatives only; `--negatives` is not used).
    case inBatch
    /// The batch's targets plus K uniform draws (mixed negative sampling, Yang et al., WWW 2020):
    /// expected count B·q_i + K/N.
    case mixed

    public var description: String {
        switch self {
        case .uniform: return "uniform"
        case .popularity(let a): return "popularity^\(a)"
        case .inBatch: return "in-batch"
        case .mixed: return "mixed"
        }
    }

    /// Whether the negatives come from the batch's targets.
    public var usesBatch: Bool { self == .inBatch || self == .mixed }

    /// `uniform`, `popularity` (α = 1), `popularity:ALPHA`, `in-batch` or `mixed`.
    /// - Throws: `.invalidParameter` listing the valid forms.
    public static func parse(_ text: String) throws(RecRLError) -> NegativeSampler {
        if text == "uniform" { return .uniform }
        if text == "in-batch" { return .inBatch }
        if text == "mixed" { return .mixed }
        if text == "popularity" { return .popularity(alpha: 1) }
        if text.hasPrefix("popularity:"), let a = Double(text.dropFirst(11)) {
            let s = NegativeSampler.popularity(alpha: a)
            try s.validate()
            return s
        }
        throw .invalidParameter(
            "unknown sampler '\(clipped(text))' (uniform, popularity, popularity:ALPHA, in-batch or mixed)")
    }

    func validate() throws(RecRLError) {
        if case .popularity(let a) = self, !(a >= 0 && a.isFinite) {
            throw .invalidParameter("the popularity sampler's α must be finite and at least 0, got \(a)")
        }
    }
}
