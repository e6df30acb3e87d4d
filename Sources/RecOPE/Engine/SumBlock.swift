/// Which products of a block's features are summed (the second moments its intervals need); the
/// columns' meaning is a `TermLayout`'s.
struct BlockLayout: Sendable {
    let width: Int
    let pairs: [(Int, Int)]
}

/// Sums over rows of a fixed-width feature vector: Σx (compensated), Σxᵢxⱼ for the layout's
/// pairs (compensated), and, with a bootstrap, each replicate's Σ W_b·x (exact fixed point).
/// Merging adds; the sums are all an estimator and its intervals need.
public struct SumBlock: Sendable, Equatable {
    /// Per column, Σ x (compensated).
    public internal(set) var first: [CompensatedSum]
    /// Per pair of columns, Σ xᵢ xⱼ (for the normal intervals).
    public internal(set) var second: [CompensatedSum]
    /// The bootstrap replicates' sums (nil without a bootstrap).
    public internal(set) var replicates: ReplicateSums?

    init(_ layout: BlockLayout, replicates: Int) {
        first = Array(repeating: CompensatedSum(), count: layout.width)
        second = Array(repeating: CompensatedSum(), count: layout.pairs.count)
        self.replicates = replicates > 0 ? ReplicateSums(replicates: replicates, width: layout.width) : nil
    }

    /// Adds one row's features. `fixed` is scratch of the layout's width; `weights` the row's
    /// Poisson weights (ignored without a bootstrap).
    /// - Returns: false, adding nothing, if a feature is outside the bootstrap's exact range.
    @inline(__always)
    mutating func add(
        _ x: UnsafeBufferPointer<Double>, _ layout: BlockLayout, weights: UnsafeBufferPointer<UInt8>,
        fixed: UnsafeMutableBufferPointer<Int64>
    ) -> Bool {
        if replicates != nil {
            for f in 0..<layout.width {
                let v = x[f]
                guard abs(v) < ReplicateSums.limit else { return false }
                fixed[f] = Int64((v * ReplicateSums.scale).rounded())
            }
            replicates!.add(UnsafeBufferPointer(rebasing: fixed[0..<layout.width]), weights: weights)
        }
        first.withUnsafeMutableBufferPointer { fp in
            for f in 0..<fp.count { fp[f].add(x[f]) }
        }
        second.withUnsafeMutableBufferPointer { sp in
            layout.pairs.withUnsafeBufferPointer { pp in
                for p in 0..<pp.count { sp[p].add(x[pp[p].0] * x[pp[p].1]) }
            }
        }
        return true
    }

    mutating func merge(_ other: SumBlock) {
        for i in first.indices { first[i].add(other.first[i]) }
        for i in second.indices { second[i].add(other.second[i]) }
        if let o = other.replicates { replicates?.add(o) }
    }

    mutating func flush() { replicates?.flush() }

    func sum(_ f: Int) -> Double { first[f].value }
    func product(_ p: Int) -> Double { second[p].value }

    /// Checks a decoded block against the layout it should have.
    func matches(_ layout: BlockLayout, replicates b: Int) -> Bool {
        first.count == layout.width && second.count == layout.pairs.count
            && (replicates?.replicates ?? 0) == b && (replicates.map { $0.width == layout.width } ?? true)
    }
}

extension SumBlock: Codable {
    enum CodingKeys: String, CodingKey { case width, pairs, first, second, replicates }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let w = try c.decode(Int.self, forKey: .width)
        let p = try c.decode(Int.self, forKey: .pairs)
        guard w >= 0, p >= 0, w <= 4096, p <= 4096 else {
            throw DecodingError.dataCorruptedError(forKey: .width, in: c, debugDescription: "impossible block size")
        }
        first = Self.sums(try c.doubleBlob(.first, count: 2 * w))
        second = Self.sums(try c.doubleBlob(.second, count: 2 * p))
        replicates = try c.decodeIfPresent(ReplicateSums.self, forKey: .replicates)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(first.count, forKey: .width)
        try c.encode(second.count, forKey: .pairs)
        try c.encode(BinaryBlob.encode(first.flatMap { [$0.sum, $0.error] }), forKey: .first)
        try c.encode(BinaryBlob.encode(second.flatMap { [$0.sum, $0.error] }), forKey: .second)
        try c.encodeIfPresent(replicates, forKey: .replicates)
    }

    static func sums(_ pairs: [Double]) -> [CompensatedSum] {
        (0..<(pairs.count / 2)).map {
            var s = CompensatedSum()
            s.sum = pairs[2 * $0]
            s.error = pairs[2 * $0 + 1]
            return s
        }
    }
}

/// Blocks keyed by a group's name (a position, a context value, a value-model bucket), so shards
/// that met the groups in different orders merge by name.
public struct GroupedSums: Sendable, Equatable, Codable {
    /// Group keys (values, so that shards agree).
    public internal(set) var keys: [String] = []
    /// Per group, its sums.
    public internal(set) var blocks: [SumBlock] = []
    var index: [String: Int] = [:]

    enum CodingKeys: String, CodingKey { case keys, blocks }

    init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        keys = try c.decode([String].self, forKey: .keys)
        blocks = try c.decode([SumBlock].self, forKey: .blocks)
        guard keys.count == blocks.count, Set(keys).count == keys.count else {
            throw DecodingError.dataCorruptedError(
                forKey: .keys, in: c, debugDescription: "group keys and blocks differ")
        }
        for (i, k) in keys.enumerated() { index[k] = i }
    }

    /// The block of group `key`, created empty on first sight.
    mutating func slot(_ key: String, _ layout: BlockLayout, replicates: Int) -> Int {
        if let i = index[key] { return i }
        index[key] = keys.count
        keys.append(key)
        blocks.append(SumBlock(layout, replicates: replicates))
        return keys.count - 1
    }

    @inline(__always)
    mutating func add(
        slot i: Int, _ x: UnsafeBufferPointer<Double>, _ layout: BlockLayout, weights: UnsafeBufferPointer<UInt8>,
        fixed: UnsafeMutableBufferPointer<Int64>
    ) -> Bool {
        blocks[i].add(x, layout, weights: weights, fixed: fixed)
    }

    mutating func merge(_ other: GroupedSums, _ layout: BlockLayout, replicates: Int) {
        for (k, b) in zip(other.keys, other.blocks) {
            let i = slot(k, layout, replicates: replicates)
            blocks[i].merge(b)
        }
    }

    mutating func flush() { for i in blocks.indices { blocks[i].flush() } }

    /// The groups in a fixed order (shorter keys first, then by bytes), whatever order they came in.
    var ordered: [(key: String, block: SumBlock)] {
        zip(keys, blocks).sorted {
            $0.0.utf8.count != $1.0.utf8.count ? $0.0.utf8.count < $1.0.utf8.count : $0.0 < $1.0
        }
        .map { (key: $0.0, block: $0.1) }
    }

    public static func == (a: GroupedSums, b: GroupedSums) -> Bool {
        let x = a.ordered
        let y = b.ordered
        return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.block == $1.block }
    }
}
