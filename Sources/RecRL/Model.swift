import Foundation
import RecCore
import RecIO
import RecNN

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
    public var usesQ: Bool { self != .ce }
    /// Whether the algorithm samples negative actions (reward 0, next state = state).
    public var usesNegatives: Bool { self == .snqn || self == .sa2c }
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
        let perBlock = MemoryBudget.sum([MemoryBudget.product([d, d, 8]), MemoryBudget.product([d, 16])])
        let encoder =
            usesGRU
            ? MemoryBudget.sum([
                MemoryBudget.product([d, d, 6]), MemoryBudget.product([d, 6]), MemoryBudget.product([items + 1, d]),
            ])
            : MemoryBudget.sum([
                MemoryBudget.product([items + 1, d]), MemoryBudget.product([length, d]),
                perBlock.flatMap { MemoryBudget.product([$0, blocks]) }, MemoryBudget.product([d, 2]),
            ])
        let headCount = algorithm.usesQ ? 2 : 1
        return MemoryBudget.sum([encoder, MemoryBudget.product([items, d + 1, headCount])])
    }

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

/// One network: a SASRec encoder, a supervised (CE) head and, for the RL algorithms, a Q head.
/// Tensor names: `encoder.*` (see SASRec), `ce_head.weight` / `ce_head.bias` (N × d, N),
/// `q_head.weight` / `q_head.bias`.
public final class QNetwork: Module {
    /// The SASRec encoder (nil for GRU4Rec).
    public let encoder: SASRec?
    /// The GRU4Rec encoder (nil for SASRec).
    public let gruEncoder: GRU4Rec?
    /// The supervised head (`ce_head.*`).
    public let ceHead: CatalogHead
    /// The Q head (`q_head.*`; nil for CE).
    public let qHead: CatalogHead?
    let parallel: SASRec.DataParallel?

    /// A network of the shape `c` describes, initialised from `seed`.
    /// - Parameters:
    ///   - c: the model's shape and algorithm.
    ///   - seed: the initialisation's seed.
    ///   - dataParallel: give the SASRec encoder its in-process data-parallel split (for
    ///     `states` over large batches); the trainer's part replicas do without.
    public init(_ c: ModelConfig, seed: UInt64, dataParallel: Bool = true) {
        if c.usesGRU {
            encoder = nil
            parallel = nil
            gruEncoder = GRU4Rec(
                items: c.items, length: c.length, dim: c.dim, hidden: c.dim, dropout: c.dropout,
                initialization: ModelConfig.initialization, seed: seed)
        } else {
            let e = SASRec(config: c.encoderConfig, seed: seed)
            encoder = e
            parallel = dataParallel ? SASRec.DataParallel(e) : nil
            gruEncoder = nil
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
    public var encoderParameters: [Parameter] { encoder?.parameters ?? gruEncoder!.parameters }
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
            if let encoder, !split {
                let r = try encoder.forward(seqs, training: training, seed: seed, firstSample: firstSample)
                return (r.states, .sasrecWhole(r.cache))
            }
            if let parallel {
                let r = try parallel.forward(seqs, training: training, seed: seed, firstSample: firstSample)
                return (r.states, .sasrec(r.cache))
            }
            if let encoder {
                let r = try encoder.forward(seqs, training: training, seed: seed, firstSample: firstSample)
                return (r.states, .sasrecWhole(r.cache))
            }
            let r = try gruEncoder!.forward(seqs, training: training, seed: seed, firstSample: firstSample)
            return (r.states, .gru(r.cache))
        } catch { throw .model("\(error)") }
    }

    /// Accumulates the encoder's gradients from the gradient of the states.
    public func backward(_ cache: EncoderCache, _ dStates: Matrix) {
        switch cache {
        case .sasrec(let c): parallel!.backward(c, dStates)
        case .sasrecWhole(let c): encoder!.backward(c, dStates)
        case .gru(let c): gruEncoder!.backward(c, dStates)
        }
    }

    /// States for a batch of right-padded sequences (no dropout).
    public func states(_ seqs: [[Int]], split: Bool = true) throws(RecRLError) -> Matrix {
        try encode(seqs, training: false, split: split).states
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

/// A trained sequential recommender: one network for CE, two (double Q-learning) for the RL
/// algorithms; network 0 serves. Carries its item vocabulary (raw keys) so that it can score
/// events from a file.
public final class SequentialRecommender {
    /// The model's shape.
    public let config: ModelConfig
    /// Network 0 (trained and served) and, for the RL algorithms, network 1 (the double-Q partner).
    public let networks: [QNetwork]
    /// Raw key of item i at index i − 1.
    public let itemKeys: [String]
    /// The data's event types, in order.
    public let eventTypes: [String]
    /// Training events per item (index i − 1), when known: defines popularity and the long tail.
    public var trainingCounts: [Int]?

    /// A model of `config`'s shape for a catalog with these raw item keys, initialised from `seed`.
    public init(config: ModelConfig, itemKeys: [String], eventTypes: [String], seed: UInt64) {
        precondition(
            itemKeys.count == config.items,
            "SequentialRecommender: \(itemKeys.count) item keys for \(config.items) items")
        self.config = config
        self.itemKeys = itemKeys
        self.eventTypes = eventTypes
        networks = (0..<(config.algorithm.usesQ ? 2 : 1)).map {
            QNetwork(config, seed: seed &+ UInt64($0) &* 1_000_003)
        }
    }

    /// The dense id (1...N) of each raw item key.
    public func itemIDs() -> [String: Int] {
        var d = [String: Int](minimumCapacity: itemKeys.count)
        for (i, k) in itemKeys.enumerated() { d[k] = i + 1 }
        return d
    }

    /// A right-padded state of the last `length` known items of a history given as raw item
    /// keys (unknown keys are skipped; returns how many were).
    public func state(rawHistory: [String], ids: [String: Int]) -> (state: [Int], unknown: Int) {
        let known = rawHistory.compactMap { ids[$0] }
        let tail = Array(known.suffix(config.length))
        return (tail + [Int](repeating: 0, count: config.length - tail.count), rawHistory.count - known.count)
    }

    /// Which head scores items.
    public enum Head: String, NamedChoice {
        /// The supervised (cross-entropy) head.
        case supervised
        /// The Q head (RL algorithms only).
        case q
    }

    /// Scores of every item for each state (B × N, column i − 1 = item i).
    public func scores(_ seqs: [[Int]], head: Head = .supervised) throws(RecRLError) -> Matrix {
        let net = networks[0]
        guard let h = head == .q ? net.qHead : net.ceHead else {
            throw .invalidParameter("this model (\(config.algorithm.rawValue)) has no Q head")
        }
        let s = try net.states(seqs)
        return allLogits(h, s)
    }

    // MARK: Checkpoints

    static let format = "reckit-sequential-recommender-1"

    /// Writes every network (prefixes `net0.`, `net1.`), optionally optimiser states, and the
    /// config, item keys and event types as metadata; atomically.
    public func save(to path: String, extra: [String: Tensor] = [:], metadata extraMeta: [String: String] = [:])
        throws(RecRLError)
    {
        var t = extra
        for (k, n) in networks.enumerated() {
            for p in n.parameters {
                t["net\(k).\(p.name)"] = p.tensor
            }
        }
        var meta = extraMeta
        meta["format"] = Self.format
        do {
            func json(_ v: some Encodable) throws(RecIOError) -> String {
                String(decoding: try JSONOutput.encode(v, what: path).data, as: UTF8.self)
            }
            try config.validate()
            meta["config"] = try json(config)
            meta["item_keys"] = try json(itemKeys)
            meta["event_types"] = try json(eventTypes)
            if let c = trainingCounts { meta["training_counts"] = try json(c) }
        } catch let e as RecIOError { throw .io(e) } catch let e as RecRLError { throw e } catch {
            throw .model("\(error)")
        }
        do { try SafeTensors.write(t, metadata: meta, to: path) } catch { throw .io(error) }
    }

    /// Reads a checkpoint written by `save`.
    /// - Throws: `.model` naming the file and the missing or mis-shaped tensor.
    public static func load(from path: String) throws(RecRLError) -> (
        model: SequentialRecommender, tensors: [String: Tensor], metadata: [String: String]
    ) {
        let file: (tensors: [String: Tensor], metadata: [String: String])
        do { file = try SafeTensors.read(path) } catch { throw .io(error) }
        guard file.metadata["format"] == format, let cj = file.metadata["config"], let kj = file.metadata["item_keys"],
            let ej = file.metadata["event_types"],
            let keys = try? JSONDecoder().decode([String].self, from: Data(kj.utf8)),
            let types = try? JSONDecoder().decode([String].self, from: Data(ej.utf8))
        else {
            throw .model(
                "\(path): not a RecKit sequential-recommender checkpoint (metadata 'format', 'config', 'item_keys', 'event_types' missing or invalid)"
            )
        }
        let c: ModelConfig
        do { c = try JSONDecoder().decode(ModelConfig.self, from: Data(cj.utf8)) } catch {
            throw .model("\(path): metadata 'config': \(decodingMessage(error))")
        }
        do { try c.validate() } catch { throw .model("\(path): metadata 'config': \(error)") }
        guard keys.count == c.items else {
            throw .model("\(path): metadata 'item_keys' has \(keys.count) keys but 'config' says \(c.items) items")
        }
        // The tensors must hold the model the header describes: a header that claims more
        // parameters than the file carries is refused before the model is allocated.
        let stored = file.tensors.values.reduce(0) { $0 + $1.values.count }
        if let need = c.parameterCount, need > stored {
            throw .model(
                "\(path): metadata 'config' describes \(need) parameters a network but the file holds \(stored) values")
        }
        let m = SequentialRecommender(config: c, itemKeys: keys, eventTypes: types, seed: 0)
        try m.restore(file.tensors, file: path)
        if let tj = file.metadata["training_counts"],
            let counts = try? JSONDecoder().decode([Int].self, from: Data(tj.utf8)), counts.count == c.items
        {
            m.trainingCounts = counts
        }
        return (m, file.tensors, file.metadata)
    }

    /// Loads parameter values, all or nothing.
    func restore(_ tensors: [String: Tensor], file: String) throws(RecRLError) {
        var staged = [(Parameter, Matrix)]()
        for (k, n) in networks.enumerated() {
            for p in n.parameters {
                let name = "net\(k).\(p.name)"
                guard let t = tensors[name] else { throw .model("\(file): tensor '\(clipped(name))' is missing") }
                guard p.accepts(shape: t.shape) else {
                    throw .model(
                        "\(file): tensor '\(clipped(name))' has shape \(t.shape), expected \(p.checkpointShape)")
                }
                staged.append((p, Matrix(rows: p.value.rows, cols: p.value.cols, elements: t.values)))
            }
        }
        for (p, v) in staged { p.value = v }
    }
}

/// Every logit of a catalog head, `S Wᵀ + b` (B × N): one GEMM over the bias rows.
func allLogits(_ head: CatalogHead, _ S: Matrix) -> Matrix {
    let n = head.items
    var z = Matrix(rows: S.rows, cols: n)
    z.withUnsafeMutableBufferPointer { zp in
        head.bias.value.withUnsafeBufferPointer { bp in
            for r in 0..<S.rows { (zp.baseAddress! + r * n).update(from: bp.baseAddress!, count: n) }
        }
    }
    gemm(S, head.weight.value, into: &z, transposeB: .transpose, beta: 1)
    return z
}

/// 0..<n in a seeded random order (Fisher–Yates with xoshiro256++).
func shuffledIndices(_ n: Int, seed: UInt64) -> [Int] {
    var order = Array(0..<n)
    var g = Xoshiro256(seed: seed)
    if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(g.next() % UInt64(i + 1))) } }
    return order
}
