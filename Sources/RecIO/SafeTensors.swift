import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A named dense tensor in row-major Float.
public struct Tensor: Sendable, Equatable {
    /// The dimensions (row-major).
    public var shape: [Int]
    /// The values, row-major.
    public var values: [Float]

    /// - Precondition: `values.count` is the product of `shape`.
    public init(shape: [Int], values: [Float]) {
        precondition(
            shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
            "Tensor: \(values.count) values do not fill shape \(shape)")
        self.shape = shape
        self.values = values
    }

    /// Values (the product of `shape`).
    public var count: Int { values.count }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}`,
/// then the raw little-endian data. RecKit writes F32 and reads F32, F16 and BF16 (converted to
/// Float), so PyTorch models exported with `safetensors.torch.save_file` load directly.
///
/// Written here because no package on this machine reads or writes the format.
public enum SafeTensors {
    /// Reads every tensor of a file.
    /// - Throws: `RecIOError.malformed` naming the file (and the tensor) for a truncated file, a
    ///   corrupt header, an unsupported dtype, or data offsets that do not match the shape.
    public static func read(_ path: String) throws(RecIOError) -> (
        tensors: [String: Tensor], metadata: [String: String]
    ) {
        let data = try FileInput.contents(path)
        return try parse(data, file: path)
    }

    /// Parses safetensors bytes; `file` names the source in errors.
    public static func parse(_ data: Data, file: String) throws(RecIOError) -> (
        tensors: [String: Tensor], metadata: [String: String]
    ) {
        func bad(_ m: String) -> RecIOError { .malformed(file: file, line: 0, field: nil, message: m) }
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw bad("truncated: \(bytes.count) bytes, the header length alone needs 8") }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
        guard headerLength > 0, headerLength <= bytes.count - 8 else {
            throw bad(
                "truncated or corrupt: header length \(headerLength) but the file has \(bytes.count - 8) bytes after it"
            )
        }
        guard let parsed = try? JSONValue.parse(bytes[8..<(8 + headerLength)]), let header = parsed.object else {
            throw bad("corrupt header: not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataCount = bytes.count - dataStart
        var metadata = [String: String]()
        var tensors = [String: Tensor]()
        for (name, entry) in header {
            if name == "__metadata__" {
                if let m = entry.object { for (k, v) in m { metadata[k] = v.string ?? Self.scalarText(v) } }
                continue
            }
            guard let e = entry.object, let dtype = e["dtype"]?.string,
                let shapeAny = e["shape"]?.array,
                let offAny = e["data_offsets"]?.array, offAny.count == 2
            else {
                throw bad("tensor '\(clipped(name))': entry needs dtype, shape and data_offsets")
            }
            let shape = shapeAny.compactMap(Self.headerInteger)
            let offs = offAny.compactMap(Self.headerInteger)
            guard shape.count == shapeAny.count, offs.count == 2 else {
                throw bad("tensor '\(clipped(name))': shape and data_offsets must be integers in 0...2^53")
            }
            // The element count must fit the data before anything is allocated.
            guard let n = MemoryBudget.product(shape), n <= dataCount else {
                throw bad(
                    "tensor '\(clipped(name))': shape \(clipped(shape.description)) has more elements than the file's \(dataCount) data bytes can hold"
                )
            }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default: throw bad("tensor '\(clipped(name))': dtype \(dtype) is not supported (F32, F16, BF16)")
            }
            guard offs[0] >= 0, offs[1] >= offs[0], offs[1] <= dataCount else {
                throw bad(
                    "tensor '\(clipped(name))': data_offsets [\(offs[0]), \(offs[1])] outside the \(dataCount) data bytes (truncated file?)"
                )
            }
            guard offs[1] - offs[0] == n * width else {
                throw bad(
                    "tensor '\(clipped(name))': \(offs[1] - offs[0]) bytes for shape \(shape) of \(dtype) (\(n * width) expected)"
                )
            }
            var values = [Float](repeating: 0, count: n)
            let base = dataStart + offs[0]
            for i in 0..<n {
                let p = base + i * width
                switch dtype {
                case "F32":
                    let bits =
                        UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3])
                        << 24
                    values[i] = Float(bitPattern: bits)
                case "BF16":
                    values[i] = Float(bitPattern: (UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8) << 16)
                default:
                    values[i] = halfToFloat(UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8)
                }
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        return (tensors, metadata)
    }

    /// A JSON number that is an integer in 0...2⁵³ (what a shape or an offset can be), else nil.
    static func headerInteger(_ value: JSONValue) -> Int? {
        guard case .number(let d, let exact) = value else { return nil }
        guard d >= 0, d <= 9_007_199_254_740_992, d.rounded() == d else { return nil }
        if let exact, exact != Int64(d) { return nil }
        return Int(d)
    }

    /// A metadata value that is not a string, as text (numbers as written, true/false, null).
    static func scalarText(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d, let exact): return exact.map { "\($0)" } ?? "\(d)"
        case .string(let s): return s
        case .array, .object: return "(a JSON \(value.array != nil ? "array" : "object"))"
        }
    }

    /// IEEE 754 binary16 to Float (subnormals, infinities and NaN included).
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1F)
        let mant = UInt32(h & 0x3FF)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            let v = Float(mant) * Float(sign == 0 ? 1 : -1) * 0x1p-24
            return v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | mant << 13)
    }

    /// Writes F32 tensors (names sorted, data 8-byte aligned) atomically: temporary file, fsync,
    /// rename.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String)
        throws(RecIOError)
    {
        try AtomicFile.write(encode(tensors, metadata: metadata), to: path)
    }

    /// The file's bytes (F32 tensors, names sorted, data 8-byte aligned), for a caller that writes
    /// several files together (`AtomicFile.write(_:)`).
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> Data {
        let names = tensors.keys.sorted()
        var offset = 0
        var entries = [String]()
        func jsonString(_ s: String) -> String {
            var o = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": o += "\\\""
                case "\\": o += "\\\\"
                default:
                    if u.value < 0x20 { o += cFormat("\\u%04x", u.value) } else { o.unicodeScalars.append(u) }
                }
            }
            return o + "\""
        }
        if !metadata.isEmpty {
            entries.append(
                "\"__metadata__\":{"
                    + metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(
                        separator: ",") + "}")
        }
        for name in names {
            let t = tensors[name]!
            let size = t.count * 4
            entries.append(
                "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}"
            )
            offset += size
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        for i in 0..<8 { out.append(UInt8((header.count >> (8 * i)) & 0xFF)) }
        out += header
        for name in names {
            for v in tensors[name]!.values {
                let b = v.bitPattern
                out.append(UInt8(b & 0xFF))
                out.append(UInt8((b >> 8) & 0xFF))
                out.append(UInt8((b >> 16) & 0xFF))
                out.append(UInt8(b >> 24))
            }
        }
        return Data(out)
    }
}
