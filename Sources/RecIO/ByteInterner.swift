import RecCore

#if canImport(Glibc)
    import Glibc
#endif

/// Dense ids for byte strings in the order they first appear, found by a hash of the bytes and
/// confirmed by comparing them (no `String` per lookup; a value's `String` is made once, when
/// asked for). An open-addressing table the caller owns: nothing is reference-counted per lookup
/// beyond the arrays' own buffers.
public struct ByteInterner: Sendable {
    /// Per slot: id + 1, or 0 when empty. The table is kept at most half full.
    var slots: [Int32]
    var hashes: [UInt64] = []
    var offsets: [Int] = [0]
    var bytes: [UInt8] = []

    /// An empty interner.
    public init() { slots = [Int32](repeating: 0, count: 64) }

    /// Number of distinct values.
    @inlinable public var count: Int { hashesCount }
    @usableFromInline var hashesCount: Int { hashes.count }

    /// The id of the `n` bytes at `p`: an existing id when those bytes were seen, else the next.
    public mutating func id(_ p: UnsafePointer<UInt8>, count n: Int) -> Int32 {
        let h = StableHash.bytes(UnsafeBufferPointer(start: p, count: n))
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = slots[s]
            if v == 0 { break }
            let id = Int(v) - 1
            if hashes[id] == h {
                let a = offsets[id]
                let len = offsets[id + 1] - a
                if len == n && (n == 0 || bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + a, p, n) == 0 }) {
                    return Int32(id)
                }
            }
            s = (s + 1) & mask
        }
        let id = Int32(hashes.count)
        slots[s] = id + 1
        hashes.append(h)
        bytes.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        offsets.append(bytes.count)
        if hashes.count * 2 > slots.count { rehash() }
        return id
    }

    mutating func rehash() {
        var bigger = [Int32](repeating: 0, count: slots.count * 2)
        let mask = bigger.count - 1
        for (id, h) in hashes.enumerated() {
            var s = Int(truncatingIfNeeded: h) & mask
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
