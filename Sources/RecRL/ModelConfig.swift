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

/// The training algorithms.
public enum Algorithm: String, NamedChoice {
    /// Supervised cross-entropy on the next item.
    case ce
    /// Xin et al. 2020: CE head + Q head with a one-step double Q-learning TD loss.
    case sqn
    /// Xin et al. 2020: after the warm-up, the CE term is weighted by the stop-gradient Q(s, a).
    case sac
    /// Xin et al. 2022: SQN plus K sampled negatives with reward 0 and next state = state.
    case snqn
    /// Xin et al. 2022: after the warm-up, the CE term is weighted by the clipped advantage.
    case sa2c

    /// Whether the algorithm has a Q head (and two networks).
    public var usesQ: Bool { objective.usesQ }
    /// Whether the algorithm samples negative actions (reward 0, next state = state).
    public var usesNegatives: Bool { objective.usesNegatives }
}

/// The state encoder of a model.
public enum EncoderKind: String, NamedChoice {
    /// SASRec (self-attention blocks; `blocks`, `heads`, `layout` apply).
    case sasrec
    /// GRU4Rec (one GRU layer with hidden size `dim`).
    case gru
}

/// The model's shape (what a checkpoint needs to be rebuilt).
public struct ModelConfig: Sendable, Codable, Equatable {
    /// The training algorithm (decides the heads and networks).
    public var algorithm: Algorithm = .sqn
    /// Items in the catalog (ids 1...items).
    public var items: Int
    /// The state length L (items per history).
    public var length = 10
    /// The hidden size d.
    public var dim = 64
    /// SASRec attention heads.
    public var heads = 1
    /// SASRec blocks.
    public var blocks = 1
    /// The dropout rate (training only).
    public var dropout: Float = 0.1
    /// SASRec's block layout.
    public var layout: SASRec.Layout = .original
    /// The state encoder (checkpoints written before the field existed hold SASRec).
    public var encoder: EncoderKind = .sasrec
    /// SASRec's attention output projection and FFN output dropout. New models follow the
    /// authors' code (no projection, dropout after both FFN layers); checkpoints written before
    /// these fields existed (nil) had a projection and no output dropout, and load as such.
    public var attentionOutputProjection: Bool? = nil
    /// Whether dropout follows the FFN's output layer (nil in older checkpoints: none).
    public var ffnOutputDropout: Bool? = nil
    /// A config for `items` items with the authors' SASRec block (no attention output projection,
    /// dropout after both FFN layers).
    public init(items: Int) {
        self.items = items
        attentionOutputProjection = false
        ffnOutputDropout = true
    }

    /// Reads a config as `encode(to:)` writes it, and as checkpoints written before `encoder`
    /// existed (SASRec) and before the output projection and dropout fields existed (nil).
    /// - Throws: `DecodingError` naming the field; an unknown algorithm, layout or encoder lists
    ///   the valid names.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        items = try c.decode(Int.self, forKey: .items)
        algorithm = try c.decode(Algorithm.self, forKey: .algorithm)
        length = try c.decode(Int.self, forKey: .length)
        dim = try c.decode(Int.self, forKey: .dim)
        heads = try c.decode(Int.self, forKey: .heads)
        blocks = try c.decode(Int.self, forKey: .blocks)
        dropout = try c.decode(Float.self, forKey: .dropout)
        layout = try c.decode(SASRec.Layout.self, forKey: .layout)
        encoder = try c.decodeIfPresent(EncoderKind.self, forKey: .encoder) ?? .sasrec
        attentionOutputProjection = try c.decodeIfPresent(Bool.self, forKey: .attentionOutputProjection)
        ffnOutputDropout = try c.decodeIfPresent(Bool.self, forKey: .ffnOutputDropout)
    }

    /// Whether the encoder is GRU4Rec.
    public var usesGRU: Bool { encoder == .gru }

    /// The fields that differ, as "field: self's value, not other's", for messages.
    public func differences(from other: ModelConfig) -> String {
        func show<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "unset" }
        let pairs: [(String, String, String)] = [
            ("algorithm", algorithm.rawValue, other.algorithm.rawValue), ("items", "\(items)", "\(other.items)"),
            ("length", "\(length)", "\(other.length)"), ("dim", "\(dim)", "\(other.dim)"),
            ("heads", "\(heads)", "\(other.heads)"),
            ("blocks", "\(blocks)", "\(other.blocks)"), ("dropout", "\(dropout)", "\(other.dropout)"),
            ("layout", layout.rawValue, other.layout.rawValue),
            ("encoder", encoder.rawValue, other.encoder.rawValue),
            ("attention output projection", show(attentionOutputProjection), show(other.attentionOutputProjection)),
            ("FFN output dropout", show(ffnOutputDropout), show(other.ffnOutputDropout)),
        ]
        let diff = pairs.filter { $0.1 != $0.2 }.map {
            "\($0.0): \(clipped($0.1, limit: 40)), not \(clipped($0.2, limit: 40))"
        }
        return diff.isEmpty ? "no field differs" : diff.joined(separator: "; ")
    }

    /// Upper bounds on sizes that have no use beyond them (and whose products must not overflow).
    public static let maxItems = 1 << 31, maxLength = 1 << 16, maxDim = 1 << 16, maxBlocks = 1024

    /// Checks every field (a config may come from a checkpoint's header) and that the model fits
    /// in memory, before anything is allocated.
    /// - Throws: `.invalidParameter` naming the first bad field and value, or the bytes needed.
    public func validate() throws(RecRLError) {
        func bad(_ what: String) -> RecRLError { .invalidParameter(what) }
        guard items >= 1 && items <= Self.maxItems else {
            throw bad("items must be in 1...\(Self.maxItems), got \(items)")
        }
        guard length >= 1 && length <= Self.maxLength else {
            throw bad("state length must be in 1...\(Self.maxLength), got \(length)")
        }
        guard dim >= 1 && dim <= Self.maxDim else { throw bad("hidden size must be in 1...\(Self.maxDim), got \(dim)") }
        guard dropout >= 0 && dropout < 1 else { throw bad("dropout must be in [0, 1), got \(dropout)") }
        if !usesGRU {
            guard heads >= 1 && dim % heads == 0 else {
                throw bad("hidden size \(dim) must be a positive multiple of the heads (\(heads))")
            }
            guard blocks >= 1 && blocks <= Self.maxBlocks else {
                throw bad("blocks must be in 1...\(Self.maxBlocks), got \(blocks)")
            }
        }
        do {
            try MemoryBudget.check(
                "a model of \(items) items × d=\(dim) (\(algorithm.usesQ ? 2 : 1) networks, values and gradients)",
                bytes: MemoryBudget.product([parameterCount ?? -1, algorithm.usesQ ? 2 : 1, 2, 4]))
        } catch { throw bad(error.description) }
    }

    /// Parameters of one network (nil when the count overflows).
    public var parameterCount: Int? {
        let d = dim
        // Exactly the tensors `QNetwork` builds (a test compares the two for every shape option):
        // a block is two layer norms (2d each), Q, K and V (d² + d each), the optional output
        // projection (d² + d) and the FFN's two layers (d² + d each).
        let linear = MemoryBudget.sum([MemoryBudget.product([d, d]), d])
        let perBlock = MemoryBudget.sum([
            MemoryBudget.product([d, 4]),
            linear.flatMap { MemoryBudget.product([$0, encoderConfig.hasAttentionOutputProjection ? 6 : 5]) },
        ])
        let encoder =
            usesGRU
            ? MemoryBudget.sum([
                MemoryBudget.product([d, d, 6]), MemoryBudget.product([d, 6]), MemoryBudget.product([items + 1, d]),
            ])
            : MemoryBudget.sum([
                MemoryBudget.product([items + 1, d]), MemoryBudget.product([length, d]),
                perBlock.flatMap { MemoryBudget.product([$0, blocks]) },
                layout == .postLN ? 0 : MemoryBudget.product([d, 2]),
            ])
        let headCount = algorithm.usesQ ? 2 : 1
        return MemoryBudget.sum([encoder, MemoryBudget.product([items, d + 1, headCount])])
    }

    /// Networks a model of this config holds: two (double Q-learning) for the RL algorithms.
    public var networkCount: Int { algorithm.usesQ ? 2 : 1 }

    /// About what a training step holds: parameters with gradients and Adam's two moments for
    /// every network, a batch's activations, and its full-catalog logits (nil on overflow).
    public func trainingBytes(batch: Int, negatives: Int) -> Int? {
        let nets = algorithm.usesQ ? 2 : 1
        let params = parameterCount.flatMap { MemoryBudget.product([$0, nets, 4]) }
        let activations = MemoryBudget.product([batch, length, dim, usesGRU ? 8 : blocks * 16])
        let logits = MemoryBudget.product([batch, items, 2 * nets])
        let negs = MemoryBudget.product([batch, max(negatives, 0), 4])
        return MemoryBudget.sum([params, activations, logits, negs]).flatMap { MemoryBudget.product([$0, 4]) }
    }

    /// The authors' TensorFlow initialisation: embeddings N(0, 0.01²), dense layers Glorot
    /// uniform with zero biases (heads included).
    static let initialization = Initialization.xavierUniform(embeddingStd: 0.01)

    var encoderConfig: SASRec.Config {
        var c = SASRec.Config(items: items)
        c.length = length
        c.dim = dim
        c.heads = heads
        c.blocks = blocks
        c.dropout = dropout
        c.layout = layout
        c.initialization = ModelConfig.initialization
        c.attentionOutputProjection = attentionOutputProjection ?? true
        c.ffnOutputDropout = ffnOutputDropout ?? false
        return c
    }
}
