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

/// One network: a SASRec encoder, a supervised (CE) head and, for the RL algorithms, a Q head.
/// Tensor names: `encoder.*` (see SASRec), `ce_head.weight` / `ce_head.bias` (N × d, N),
/// `q_head.weight` / `q_head.bias`.
public final class QNetwork: Module {
    /// A network's state encoder (one of them, with what it needs).
    public enum StateEncoder {
        /// SASRec, with its in-process data-parallel split (nil: the trainer's part replicas,
        /// which encode their part whole).
        case sasrec(SASRec, SASRec.DataParallel?)
        /// GRU4Rec.
        case gru(GRU4Rec)

        /// The encoder's parameters.
        public var parameters: [Parameter] {
            switch self {
            case .sasrec(let e, _): return e.parameters
            case .gru(let g): return g.parameters
            }
        }

        /// The item embedding (sparse gradient rows).
        public var itemEmbedding: Embedding {
            switch self {
            case .sasrec(let e, _): return e.itemEmbedding
            case .gru(let g): return g.itemEmbedding
            }
        }
    }

    /// The state encoder.
    public let encoder: StateEncoder
    /// The supervised head (`ce_head.*`).
    public let ceHead: CatalogHead
    /// The Q head (`q_head.*`; nil for CE).
    public let qHead: CatalogHead?

    /// A network of the shape `c` describes, initialised from `seed`.
    /// - Parameters:
    ///   - c: the model's shape and algorithm.
    ///   - seed: the initialisation's seed.
    ///   - dataParallel: give the SASRec encoder its in-process data-parallel split (for
    ///     `states` over large batches); the trainer's part replicas do without.
    public init(_ c: ModelConfig, seed: UInt64, dataParallel: Bool = true) {
        switch c.encoder {
        case .gru:
            encoder = .gru(
                GRU4Rec(
                    items: c.items, length: c.length, dim: c.dim, hidden: c.dim, dropout: c.dropout,
                    initialization: ModelConfig.initialization, seed: seed))
        case .sasrec:
            let e = SASRec(config: c.encoderConfig, seed: seed)
            encoder = .sasrec(e, dataParallel ? SASRec.DataParallel(e) : nil)
        }
        ceHead = CatalogHead(
            name: "ce_head", items: c.items, dim: c.dim, initialization: ModelConfig.initialization, seed: seed &+ 7)
        qHead =
            c.algorithm.usesQ
            ? CatalogHead(
                name: "q_head", items: c.items, dim: c.dim, initialization: ModelConfig.initialization, seed: seed &+ 11
            ) : nil
    }

    /// The encoder's parameters, whichever encoder it is.
    public var encoderParameters: [Parameter] { encoder.parameters }
    public var parameters: [Parameter] { encoderParameters + ceHead.parameters + (qHead?.parameters ?? []) }

    /// What `backward` needs from `forward`.
    public enum EncoderCache {
        /// SASRec run in parts (its data-parallel split).
        case sasrec(SASRec.DataParallel.Cache)
        /// SASRec run whole.
        case sasrecWhole(SASRec.Cache)
        /// GRU4Rec.
        case gru(GRU4Rec.Cache)
    }

    /// Encodes a batch of right-padded sequences (SASRec: data-parallel over the batch).
    /// `firstSample` is the index of `seqs[0]` in the whole batch (dropout masks are drawn per
    /// sample, see `SASRec.forward`). `split: false` encodes the batch in one piece (no
    /// in-process data-parallel split, whose sums depend on the thread count).
    public func encode(
        _ seqs: [[Int]], training: Bool, seed: UInt64 = 0, firstSample: Int = 0,
        split: Bool = true
    ) throws(RecRLError) -> (states: Matrix, cache: EncoderCache) {
        do {
            switch encoder {
            case .sasrec(_, let parallel?) where split:
                let r = try parallel.forward(seqs, training: training, seed: seed, firstSample: firstSample)
                return (r.states, .sasrec(r.cache))
            case .sasrec(let e, _):
                let r = try e.forward(seqs, training: training, seed: seed, firstSample: firstSample)
                return (r.states, .sasrecWhole(r.cache))
            case .gru(let g):
                let r = try g.forward(seqs, training: training, seed: seed, firstSample: firstSample)
                return (r.states, .gru(r.cache))
            }
        } catch { throw .model("\(error)") }
    }

    /// Accumulates the encoder's gradients from the gradient of the states.
    /// - Precondition: `cache` came from this network's `encode`.
    public func backward(_ cache: EncoderCache, _ dStates: Matrix) {
        switch (cache, encoder) {
        case (.sasrec(let c), .sasrec(_, let parallel?)): parallel.backward(c, dStates)
        case (.sasrecWhole(let c), .sasrec(let e, _)): e.backward(c, dStates)
        case (.gru(let c), .gru(let g)): g.backward(c, dStates)
        default: preconditionFailure("QNetwork.backward: a cache of another encoder")
        }
    }

    /// States for a batch of right-padded sequences (no dropout).
    public func states(_ seqs: [[Int]], split: Bool = true) throws(RecRLError) -> Matrix {
        defer { if case .sasrec(_, let parallel?) = encoder { parallel.releaseShared() } }
        return try encode(seqs, training: false, split: split).states
    }

    /// Gives this network `other`'s parameter values (shared, copy-on-write), and clears its
    /// gradients when it is to be trained: a replica that computes one part of a batch.
    func share(_ other: QNetwork, clearGradients: Bool) {
        for (mine, theirs) in zip(parameters, other.parameters) { mine.value = theirs.value }
        if clearGradients { zeroGrad() }
    }

    /// Drops the shared values (so that the owner's in-place optimiser step copies nothing).
    func releaseValues() {
        for p in parameters { p.value = Matrix(rows: 0, cols: 0) }
    }

    /// Adds `other`'s gradients into this network's (sparse ones over their touched rows).
    func accumulateGradients(from other: QNetwork) {
        for (mine, theirs) in zip(parameters, other.parameters) { mine.accumulateGradient(from: theirs) }
    }
}
