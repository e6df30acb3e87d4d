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
        networks = (0..<config.networkCount).map {
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
        let data = try checkpoint(extra: extra, metadata: extraMeta, what: path)
        do { try AtomicFile.write(data, to: path) } catch { throw .io(error) }
    }

    /// The bytes `save` writes (for writing several checkpoints together); `what` names them in
    /// errors.
    public func checkpoint(extra: [String: Tensor] = [:], metadata extraMeta: [String: String] = [:], what: String)
        throws(RecRLError) -> Data
    {
        let path = what
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
        return SafeTensors.encode(t, metadata: meta)
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
        if let perNetwork = c.parameterCount, let need = MemoryBudget.product([perNetwork, c.networkCount]),
            need > stored
        {
            throw .model(
                "\(path): metadata 'config' describes \(need) parameters (\(c.networkCount) network\(c.networkCount == 1 ? "" : "s") of \(perNetwork)) but the file holds \(stored) values"
            )
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
                // A NaN or infinite weight would score every item NaN (HR 0, silently).
                if let i = t.values.firstIndex(where: { !$0.isFinite }) {
                    throw .model(
                        "\(file): tensor '\(clipped(name))' holds \(t.values[i]) at index \(i); a model's weights must be finite"
                    )
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
