import RecCore

/// Counter-based randomness keyed by a row: the same (row key, seed, counter) always gives the
/// same bits, whatever shard or order the row arrives in.
///
/// The row key is a 64-bit hash of a stable identity of the logged row: the value of the
/// `--row-key` column (its bytes, FNV-1a), or else the source's name and the row's 1-based data
/// line number. Bootstrap weights and cross-fitting folds are functions of (row key, seed,
/// replicate), never of a stream position, so splitting the rows into shards cannot change them
/// (Poisson bootstrap as in Chamandy et al., "Estimating uncertainty for massive data streams",
/// Google 2012).
public enum RowHash {
    /// FNV-1a over bytes, then the SplitMix64 finaliser (`StableHash.bytes`).
    @inlinable
    public static func key<Bytes: Sequence>(bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        StableHash.bytes(bytes)
    }

    /// The SplitMix64 output function (`StableHash.mix`).
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 { StableHash.mix(x) }

    /// The row's base word for a seed and a purpose (bootstrap, folds), mixed once per row.
    @inlinable
    public static func base(key: UInt64, seed: UInt64, purpose: UInt64) -> UInt64 {
        mix(key ^ mix(seed &+ purpose &* 0x9E37_79B9_7F4A_7C15))
    }

    /// The cross-fitting fold (0 or 1) of a row.
    @inlinable
    public static func fold(key: UInt64, seed: UInt64) -> Int {
        Int(base(key: key, seed: seed, purpose: 0xF01D) >> 63)
    }

    /// Thresholds of the Poisson(1) distribution function on 32-bit uniforms:
    /// `poissonThresholds[k] = ⌊2³² · P(X ≤ k)⌋`, X ~ Poisson(1). A uniform u below threshold k
    /// and not below k − 1 draws k. P(X ≥ 13) < 2⁻³², so draws stop at 13.
    public static let poissonThresholds: [UInt32] = {
        var out = [UInt32]()
        var p = 0.0
        var term = 1.0 / 2.718281828459045235360287
        for k in 0..<14 {
            if k > 0 { term /= Double(k) }
            p += term
            out.append(UInt32(min(4_294_967_295.0, (p * 4_294_967_296.0).rounded(.down))))
        }
        out[13] = .max
        return out
    }()

    /// Poisson(1) bootstrap weights of one row for replicates `0..<out.count`: replicate b uses
    /// half of `mix(base + (⌊b/2⌋ + 1)·γ)` (the low half for even b, the high half for odd b),
    /// and draws the number of thresholds at or below that 32-bit uniform.
    /// - Complexity: out.count / 2 hashes and 13 compares per weight, branch-free in SIMD.
    @inlinable
    public static func poissonWeights(
        base: UInt64, into out: UnsafeMutableBufferPointer<UInt8>, thresholds t: UnsafeBufferPointer<UInt32>
    ) {
        let count = out.count
        let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
        let lanes = SIMD8<UInt64>(1, 2, 3, 4, 5, 6, 7, 8)
        var b = 0
        if count >= 16 {
            // Thresholds as vectors, once per row.
            var tv = [SIMD16<UInt32>](repeating: .zero, count: 13)
            for k in 0..<13 { tv[k] = SIMD16(repeating: t[k]) }
            let one = SIMD16<UInt32>(repeating: 1)
            tv.withUnsafeBufferPointer { tvb in
                while b + 16 <= count {
                    var z = SIMD8<UInt64>(repeating: base) &+ (lanes &+ SIMD8(repeating: UInt64(b / 2))) &* gamma
                    z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
                    z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
                    z = z ^ (z &>> 31)
                    // Little-endian: lane 2i is the low half of word i (replicate b + 2i), 2i + 1 the high half.
                    let u = unsafeBitCast(z, to: SIMD16<UInt32>.self)
                    var w = SIMD16<UInt32>.zero
                    for k in 0..<13 { w &+= one.replacing(with: 0, where: u .< tvb[k]) }
                    UnsafeMutableRawPointer(out.baseAddress! + b).storeBytes(
                        of: SIMD16<UInt8>(truncatingIfNeeded: w), as: SIMD16<UInt8>.self)
                    b += 16
                }
            }
        }
        while b < count {
            let z = mix(base &+ UInt64(b / 2 + 1) &* gamma)
            out[b] = draw(UInt32(truncatingIfNeeded: z), t)
            if b + 1 < count { out[b + 1] = draw(UInt32(truncatingIfNeeded: z >> 32), t) }
            b += 2
        }
    }

    @inlinable @inline(__always)
    static func draw(_ u: UInt32, _ t: UnsafeBufferPointer<UInt32>) -> UInt8 {
        var k: UInt8 = 0
        for i in 0..<13 where u >= t[i] { k += 1 }
        return k
    }
}
