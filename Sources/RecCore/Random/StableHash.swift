/// A 64-bit hash that is the same on every machine and run (Swift's `Hasher` is seeded per
/// process): FNV-1a over bytes, mixed by the SplitMix64 finaliser. For row keys, shard
/// fingerprints and file checksums; not a cryptographic hash.
public enum StableHash {
    /// FNV-1a over bytes, then the SplitMix64 finaliser (FNV alone mixes its low bits poorly).
    @inlinable
    public static func bytes<Bytes: Sequence>(_ bytes: Bytes, seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64
    where Bytes.Element == UInt8 {
        var h = seed
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return mix(h)
    }

    /// The SplitMix64 output function (Steele, Lea & Flood 2014): a bijection of 64-bit words
    /// whose outputs pass BigCrush for consecutive inputs.
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A sequence of words folded in order.
    @inlinable
    public static func words<Words: Sequence>(_ words: Words, seed: UInt64 = 0) -> UInt64
    where Words.Element == UInt64 {
        var h = mix(seed ^ 0x9E37_79B9_7F4A_7C15)
        for w in words { h = mix(h ^ w) }
        return h
    }
}
