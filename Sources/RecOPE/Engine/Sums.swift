/// A sum of Doubles with its rounding error carried exactly (Knuth's TwoSum on every add).
///
/// The carried error makes the total independent of the order and grouping of the terms to
/// within one rounding of the result, so a sum over shards merged in any order agrees with the
/// single pass to about 1e-16 relative (of Σ|terms|).
public struct CompensatedSum: Sendable, Equatable, Codable {
    /// The rounded running sum (read `value`; settable for decoding only).
    public var sum: Double = 0
    /// The rounding error carried so far.
    public var error: Double = 0

    /// Zero.
    public init() {}

    /// The total, sum plus carried error.
    @inlinable public var value: Double { sum + error }

    /// Adds one term.
    /// - Complexity: 6 floating-point operations, no branch.
    @inlinable
    public mutating func add(_ x: Double) {
        let s = sum + x
        let bb = s - sum
        error += (sum - (s - bb)) + (x - bb)
        sum = s
    }

    /// Adds another sum (the merge of two shards).
    @inlinable
    public mutating func add(_ other: CompensatedSum) {
        add(other.sum)
        error += other.error
    }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        sum = try c.decode(Double.self)
        error = try c.decode(Double.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(sum)
        try c.encode(error)
    }
}

/// Bootstrap replicate sums in exact fixed point, so that they are bit-identical however the rows
/// are split and ordered.
///
/// Each feature value v is rounded once to an integer multiple of 2⁻²⁴ (`scale`); replicate b
/// adds W_b · round(v · 2²⁴) with W_b its Poisson(1) weight. Rows are summed in Int64 and moved
/// to Int128 totals every `flushRows` rows, so no sum can overflow for any number of rows while
/// |v| < 2²⁰ (`limit`). Integer addition is associative: shards merge exactly.
public struct ReplicateSums: Sendable, Equatable {
    /// Fraction bits of the fixed-point features.
    public static let fractionBits = 24
    /// 2^fractionBits: the fixed-point scale of replicate sums.
    public static let scale = Double(1 << fractionBits)
    /// The largest |feature| the exact sums take (2²⁰): W·v·2²⁴ < 2⁴⁸, and 8,192 rows < 2⁶¹.
    public static let limit = Double(1 << 20)
    static let flushRows = 8192

    /// Replicates B.
    public let replicates: Int
    /// Columns per replicate.
    public let width: Int
    /// Feature-major totals: `totals[f * replicates + b]` (the replicates of one feature are
    /// contiguous, so a row's update vectorises over replicates).
    public internal(set) var totals: [Int128]
    var pending: [Int64]
    var pendingRows = 0

    /// Zero sums for `replicates` × `width`.
    public init(replicates: Int, width: Int) {
        self.replicates = replicates
        self.width = width
        totals = [Int128](repeating: 0, count: replicates * width)
        pending = [Int64](repeating: 0, count: replicates * width)
    }

    /// Adds one row: fixed-point features `x` (already rounded) with per-replicate weights.
    /// - Complexity: width × replicates integer multiply-adds, vectorised over replicates.
    @inline(__always)
    mutating func add(_ x: UnsafeBufferPointer<Int64>, weights: UnsafeBufferPointer<UInt8>) {
        let B = replicates
        pending.withUnsafeMutableBufferPointer { p in
            for f in 0..<width {
                let xf = x[f]
                if xf == 0 { continue }
                let row = p.baseAddress! + f * B
                for b in 0..<B { row[b] &+= Int64(weights[b]) &* xf }
            }
        }
        pendingRows += 1
        if pendingRows >= Self.flushRows { flush() }
    }

    /// Moves the Int64 partial sums into the Int128 totals.
    mutating func flush() {
        guard pendingRows > 0 else { return }
        for i in 0..<pending.count {
            totals[i] &+= Int128(pending[i])
            pending[i] = 0
        }
        pendingRows = 0
    }

    /// Adds another shard's sums.
    mutating func add(_ other: ReplicateSums) {
        precondition(
            other.replicates == replicates && other.width == width,
            "ReplicateSums: \(other.replicates)×\(other.width) into \(replicates)×\(width)")
        flush()
        var o = other
        o.flush()
        for i in 0..<totals.count { totals[i] &+= o.totals[i] }
    }

    /// Replicate b's sum of feature f, back in floating point.
    public func value(replicate b: Int, feature f: Int) -> Double {
        precondition(pendingRows == 0, "ReplicateSums: flush before reading")
        return Double(totals[f * replicates + b]) / Self.scale
    }

    public static func == (a: ReplicateSums, b: ReplicateSums) -> Bool {
        var x = a
        var y = b
        x.flush()
        y.flush()
        return x.replicates == y.replicates && x.width == y.width && x.totals == y.totals
    }
}

extension ReplicateSums: Codable {
    enum CodingKeys: String, CodingKey { case replicates, width, totals }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        replicates = try c.decode(Int.self, forKey: .replicates)
        width = try c.decode(Int.self, forKey: .width)
        guard replicates >= 0, width >= 0, replicates <= 1 << 20, width <= 1 << 20 else {
            throw DecodingError.dataCorruptedError(
                forKey: .width, in: c, debugDescription: "replicate sums of an impossible size")
        }
        totals = try c.varints(.totals, count: replicates * width)
        pending = [Int64](repeating: 0, count: replicates * width)
    }

    public func encode(to encoder: any Encoder) throws {
        var x = self
        x.flush()
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(replicates, forKey: .replicates)
        try c.encode(width, forKey: .width)
        try c.encode(BinaryBlob.encodeVarints(x.totals), forKey: .totals)
    }
}

/// A sum of Doubles in exact fixed point (2⁻⁶⁴ units, Int128), for the sums that fit models:
/// merged in any order and grouping, it is bit-identical, so every shard of a later pass sees
/// the same fitted model. Each term is rounded once to a multiple of 2⁻⁶⁴ (5.4e-20).
/// - Precondition: every term and the total stay below 2⁶² in magnitude.
public struct ExactSum: Sendable, Equatable, Codable {
    static let scale = 0x1p64
    /// Terms above this magnitude are refused (`fits`).
    public static let limit = 0x1p62
    /// The sum, in units of 2^-fractionBits.
    public internal(set) var total: Int128 = 0

    /// Zero.
    public init() {}

    /// True when `x` can be added exactly.
    @inline(__always)
    public static func fits(_ x: Double) -> Bool { abs(x) < limit }

    /// Adds one term (rounded to 2⁻⁶⁴).
    /// - Precondition: `ExactSum.fits(x)`.
    @inline(__always)
    public mutating func add(_ x: Double) {
        let whole = x.rounded(.down)
        let fraction = UInt64(
            ((x - whole) * Self.scale).rounded(.toNearestOrEven).clamped(to: 0...0x1.fffffffffffffp63))
        total &+= Int128(Int64(whole)) << 64 &+ Int128(fraction)
    }

    /// Adds another exact sum (exactly).
    public mutating func add(_ other: ExactSum) { total &+= other.total }

    /// The total as a Double (correctly rounded from the fixed point).
    public var value: Double { Double(total) / Self.scale }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        let hi = try c.decode(Int64.self)
        let lo = try c.decode(UInt64.self)
        total = Int128(hi) << 64 | Int128(lo)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(Int64(truncatingIfNeeded: total >> 64))
        try c.encode(UInt64(truncatingIfNeeded: total))
    }
}

extension Comparable {
    @inline(__always)
    func clamped(to r: ClosedRange<Self>) -> Self { min(max(self, r.lowerBound), r.upperBound) }
}
