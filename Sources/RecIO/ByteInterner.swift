import RecCore

#if canImport(Glibc)
    import Glibc
#endif

/// Dense ids for byte strings in the order they first appear, found by a hash of the bytes and
/// confirmed by comparing them (no `String` per lookup; a value's `String` is made once, when
/// asked for). An open-addressing table the caller owns: nothing is reference-counted per lookup
/// beyond the arrays' own buffers.
public struct ByteInterner: Sendable {
    /// Per slot: id + 1, or 0 when empty. The table is kept at most a quarter full (few probes).
    var slots: [Int32]
    var hashes: [UInt64] = []
    /// Per id: a value of up to 7 bytes packed with its count in the top byte, else all ones
    /// (a key no short value has: its count byte would be 255).
    var keys: [UInt64] = []
    var offsets: [Int] = [0]
    var bytes: [UInt8] = []

    /// An empty interner.
    public init() { slots = [Int32](repeating: 0, count: 64) }

    /// Number of distinct values.
    @inlinable public var count: Int { hashesCount }
    @usableFromInline var hashesCount: Int { hashes.count }

    /// The id of the `n` bytes at `p`: an existing id when those bytes were seen, else the next.
    public mutating func id(_ p: UnsafePointer<UInt8>, count n: Int) -> Int32 {
        // Up to 7 bytes: the bytes and their count are the key itself (no comparison of bytes).
        if n <= 7 { return short(Self.pack(p, n), p, n) }
        return long(p, n)
    }

    /// Up to 7 bytes as one word (little-endian) with their count in the top byte, from two
    /// overlapping loads inside the bytes (no byte-by-byte loop, no read past them).
    @inline(__always)
    static func pack(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        let raw = UnsafeRawPointer(p)
        var k: UInt64
        if n >= 4 {
            let lo = UInt64(raw.loadUnaligned(as: UInt32.self))
            let hi = UInt64(raw.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
            k = lo | hi << UInt64(8 * (n - 4))
        } else if n >= 2 {
            let lo = UInt64(raw.loadUnaligned(as: UInt16.self))
            let hi = UInt64(raw.loadUnaligned(fromByteOffset: n - 2, as: UInt16.self))
            k = lo | hi << UInt64(8 * (n - 2))
        } else {
            k = n == 1 ? UInt64(p[0]) : 0
        }
        return UInt64(littleEndian: k) | UInt64(n) << 56
    }

    /// The slot of a short key: Fibonacci hashing (one multiply; the key's bytes are the key).
    @inline(__always)
    static func shortSlot(_ key: UInt64, slots: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - slots.trailingZeroBitCount))
    }

    @inline(__always)
    mutating func short(_ key: UInt64, _ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
        let h = key
        let mask = slots.count - 1
        var s = Self.shortSlot(key, slots: slots.count)
        while true {
            let v = slots[s]
            if v == 0 { break }
            if keys[Int(v) - 1] == key { return v - 1 }
            s = (s + 1) & mask
        }
        return insert(h, key, s, p, n)
    }

    mutating func insert(_ h: UInt64, _ key: UInt64, _ slot: Int, _ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
        let id = Int32(hashes.count)
        slots[slot] = id + 1
        hashes.append(h)
        keys.append(key)
        bytes.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        offsets.append(bytes.count)
        if hashes.count * 4 > slots.count { rehash() }
        return id
    }

    mutating func long(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
        let h = StableHash.bytes(UnsafeBufferPointer(start: p, count: n))
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = slots[s]
            if v == 0 { break }
            let id = Int(v) - 1
            if hashes[id] == h && keys[id] == ~0 {
                let a = offsets[id]
                let len = offsets[id + 1] - a
                if len == n && (n == 0 || bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + a, p, n) == 0 }) {
                    return Int32(id)
                }
            }
            s = (s + 1) & mask
        }
        return insert(h, ~0, s, p, n)
    }

    mutating func rehash() {
        var bigger = [Int32](repeating: 0, count: slots.count * 2)
        let mask = bigger.count - 1
        for (id, h) in hashes.enumerated() {
            var s = keys[id] == ~0 ? Int(truncatingIfNeeded: h) & mask : Self.shortSlot(keys[id], slots: bigger.count)
            while bigger[s] != 0 { s = (s + 1) & mask }
            bigger[s] = Int32(id + 1)
        }
        slots = bigger
    }

    /// Value `id` as a String.
    public func string(_ id: Int) -> String {
        String(decoding: bytes[offsets[id]..<offsets[id + 1]], as: UTF8.self)
    }

    /// The bytes of value `id`.
    public func withBytes<R>(_ id: Int, _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        let a = offsets[id]
        let n = offsets[id + 1] - a
        return bytes.withUnsafeBufferPointer { body($0.baseAddress! + a, n) }
    }

    /// Every value, in id order.
    public var strings: [String] { (0..<hashes.count).map(string) }
}
