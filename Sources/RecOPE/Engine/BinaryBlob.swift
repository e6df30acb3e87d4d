#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Arrays of numbers in a state file as base64 of their little-endian bytes: exact, compact, and
/// decoded with one copy instead of one JSON number at a time.
enum BinaryBlob {
    static func encode<T: FixedWidthInteger>(_ values: [T]) -> String {
        var le = values.map { $0.littleEndian }
        return le.withUnsafeMutableBytes { Data($0).base64EncodedString() }
    }

    static func encode(_ values: [Double]) -> String { encode(values.map(\.bitPattern)) }

    /// Decodes `count` values; nil when the text is not base64 of exactly that many.
    static func decode<T: FixedWidthInteger>(_ text: String, count: Int, as: T.Type = T.self) -> [T]? {
        guard count >= 0, let data = Data(base64Encoded: text), data.count == count * MemoryLayout<T>.size else {
            return nil
        }
        var out = [T](repeating: 0, count: count)
        _ = out.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return out.map { T(littleEndian: $0) }
    }

    static func decodeDoubles(_ text: String, count: Int) -> [Double]? {
        decode(text, count: count, as: UInt64.self)?.map { Double(bitPattern: $0) }
    }
}

extension BinaryBlob {
    /// Int128 values as zigzag LEB128 varints (small sums take a byte or two), then base64.
    static func encodeVarints(_ values: [Int128]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 3)
        for v in values {
            var z = UInt128(bitPattern: (v << 1) ^ (v >> 127))
            while z >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: z) | 0x80)
                z >>= 7
            }
            bytes.append(UInt8(z))
        }
        return Data(bytes).base64EncodedString()
    }

    /// Decodes exactly `count` varints; nil for anything else (truncated, overlong, extra bytes).
    static func decodeVarints(_ text: String, count: Int) -> [Int128]? {
        guard count >= 0, let data = Data(base64Encoded: text) else { return nil }
        var out = [Int128]()
        out.reserveCapacity(count)
        var z: UInt128 = 0
        var shift: UInt128 = 0
        for b in data {
            guard shift < 128, out.count < count else { return nil }
            z |= UInt128(b & 0x7F) << shift
            if b & 0x80 == 0 {
                out.append(Int128(bitPattern: z >> 1) ^ -(Int128(bitPattern: z & 1)))
                z = 0
                shift = 0
            } else {
                shift += 7
            }
        }
        return out.count == count && shift == 0 ? out : nil
    }
}

extension KeyedDecodingContainer {
    func varints(_ key: Key, count: Int) throws -> [Int128] {
        guard let v = BinaryBlob.decodeVarints(try decode(String.self, forKey: key), count: count) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "expected \(count) varints")
        }
        return v
    }

    /// A base64 blob of `count` integers, or a data-corrupted error naming the key.
    func blob<T: FixedWidthInteger>(_ key: Key, count: Int, as: T.Type = T.self) throws -> [T] {
        guard let v = BinaryBlob.decode(try decode(String.self, forKey: key), count: count, as: T.self) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "expected \(count) values")
        }
        return v
    }

    func doubleBlob(_ key: Key, count: Int) throws -> [Double] {
        try blob(key, count: count, as: UInt64.self).map { Double(bitPattern: $0) }
    }
}

extension ExactSum {
    init(total: Int128) {
        self.init()
        self.total = total
    }
}
