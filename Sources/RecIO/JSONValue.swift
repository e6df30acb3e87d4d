/// A JSON value as parsed from text (RFC 8259, strictly: no comments, no trailing commas, no
/// NaN or Infinity), with numbers kept both as a Double and, for integer literals within Int64,
/// exactly.
///
/// RecKit's library modules build on FoundationEssentials, which has `JSONDecoder` (typed) but no
/// `JSONSerialization` (untyped) and whose decoder does not say where a syntax error is; this
/// parser gives untyped values and a line and column for every syntax error.
public enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number: its Double value, and its exact value when the literal is an integer (no
    /// fraction or exponent) within Int64.
    case number(Double, exact: Int64?)
    /// A string (escapes resolved).
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object's members (for a key given twice, the last; `JSONDiagnosis`-style callers check
    /// duplicates themselves).
    case object([String: JSONValue])

    /// A syntax error: its 1-based line and column, and what was expected.
    public struct SyntaxError: Error, Equatable, CustomStringConvertible {
        /// The 1-based line.
        public let line: Int
        /// The 1-based column (in characters).
        public let column: Int
        /// What is wrong, or what was expected.
        public let message: String
        /// "line L, column C: message".
        public var description: String { "line \(line), column \(column): \(message)" }

        /// An error at `line` and `column`.
        public init(line: Int, column: Int, message: String) {
            self.line = line
            self.column = column
            self.message = message
        }
    }

    /// Containers nested deeper than this are refused (the parser recurses once per level).
    public static let maxDepth = 512

    /// Parses one JSON text (white space around it allowed).
    /// - Throws: `SyntaxError` with the position of the first problem.
    public static func parse(_ bytes: some Collection<UInt8>) throws(SyntaxError) -> JSONValue {
        var p = Parser(bytes: Array(bytes))
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        if p.i < p.bytes.count { throw p.error("unexpected \(p.describeHere()) after the JSON value") }
        return v
    }

    /// The value as a Double when it is a number.
    public var number: Double? { if case .number(let d, _) = self { d } else { nil } }
    /// The value as a string when it is one.
    public var string: String? { if case .string(let s) = self { s } else { nil } }
    /// The elements when it is an array.
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    /// The members when it is an object.
    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        func error(_ message: String, at position: Int? = nil) -> SyntaxError {
            let end = min(position ?? i, bytes.count)
            var line = 1
            var lineStart = 0
            for j in 0..<end where bytes[j] == 10 {
                line += 1
                lineStart = j + 1
            }
            // Columns count characters (UTF-8 continuation bytes are not new characters).
            let column = 1 + bytes[lineStart..<end].reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
            return SyntaxError(line: line, column: column, message: message)
        }

        func describeHere() -> String {
            guard i < bytes.count else { return "end of input" }
            let b = bytes[i]
            if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
            return "byte 0x\(String(b, radix: 16))"
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13 { i += 1 }
        }

        mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
            guard i < bytes.count else { throw error("unexpected end of input; expected a value") }
            switch bytes[i] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("unexpected \(describeHere()); expected a value")
            }
        }

        mutating func literal(_ word: String, _ v: JSONValue) throws(SyntaxError) -> JSONValue {
            let w = Array(word.utf8)
            guard bytes.count - i >= w.count, Array(bytes[i..<(i + w.count)]) == w else {
                throw error("unexpected \(describeHere()); expected a value")
            }
            i += w.count
            return v
        }

        mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
            guard depth <= JSONValue.maxDepth else { throw error("nested deeper than \(JSONValue.maxDepth) levels") }
            i += 1
            var members = [String: JSONValue]()
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
                i += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                    throw error("unexpected \(describeHere()); expected a member name in double quotes")
                }
                let key = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else {
                    throw error("unexpected \(describeHere()); expected ':' after a member name")
                }
                i += 1
                skipSpace()
                members[key] = try value(depth: depth)
                skipSpace()
                guard i < bytes.count else { throw error("unexpected end of input; expected ',' or '}'") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if bytes[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(members)
                }
                throw error("unexpected \(describeHere()); expected ',' or '}'")
            }
        }

        mutating func array(depth: Int) throws(SyntaxError) -> JSONValue {
            guard depth <= JSONValue.maxDepth else { throw error("nested deeper than \(JSONValue.maxDepth) levels") }
            i += 1
            var elements = [JSONValue]()
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "]") {
                i += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value(depth: depth))
                skipSpace()
                guard i < bytes.count else { throw error("unexpected end of input; expected ',' or ']'") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if bytes[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(elements)
                }
                throw error("unexpected \(describeHere()); expected ',' or ']'")
            }
        }

        mutating func number() throws(SyntaxError) -> JSONValue {
            let start = i
            func digits(_ p: inout Parser) -> Int {
                let s = p.i
                while p.i < p.bytes.count, p.bytes[p.i] >= 48 && p.bytes[p.i] <= 57 { p.i += 1 }
                return p.i - s
            }
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            let intStart = i
            let n = digits(&self)
            guard n > 0 else { throw error("a number needs digits after '-'") }
            if n > 1 && bytes[intStart] == UInt8(ascii: "0") {
                throw error("a number cannot start with 0 (leading zeros)", at: intStart)
            }
            var integral = true
            if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
                i += 1
                integral = false
                guard digits(&self) > 0 else { throw error("a number needs digits after '.'") }
            }
            if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
                i += 1
                integral = false
                if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
                guard digits(&self) > 0 else { throw error("a number needs digits in its exponent") }
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard let d = Double(text), d.isFinite else {
                throw error("\(clippedText(text)) is beyond Double's range (±1.8e308)", at: start)
            }
            return .number(d, exact: integral ? Int64(text) : nil)
        }

        func clippedText(_ s: String) -> String { s.count > 40 ? String(s.prefix(40)) + "…" : s }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            guard bytes.count - i >= 4 else { throw error("a \\u escape needs four hex digits") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[i]
                let d: UInt8
                switch b {
                case 48...57: d = b - 48
                case 65...70: d = b - 55
                case 97...102: d = b - 87
                default: throw error("a \\u escape needs four hex digits")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        mutating func string() throws(SyntaxError) -> String {
            let open = i
            i += 1
            var out = [UInt8]()
            while true {
                guard i < bytes.count else { throw error("a string is not closed (it starts here)", at: open) }
                let b = bytes[i]
                if b == UInt8(ascii: "\"") {
                    i += 1
                    break
                }
                if b < 0x20 {
                    throw error("a control character (0x\(String(b, radix: 16))) inside a string must be escaped")
                }
                if b != UInt8(ascii: "\\") {
                    out.append(b)
                    i += 1
                    continue
                }
                i += 1
                guard i < bytes.count else { throw error("a string is not closed (it starts here)", at: open) }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if v >= 0xD800 && v < 0xDC00 {
                        guard bytes.count - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u")
                        else { throw error("a \\u escape of a high surrogate must be followed by a low one") }
                        i += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else {
                            throw error("a \\u escape of a high surrogate must be followed by a low one")
                        }
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    } else if v >= 0xDC00 && v < 0xE000 {
                        throw error("a \\u escape of a low surrogate without a high one")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(v)!)).utf8))
                default: throw error("unknown escape '\\\(Character(Unicode.Scalar(e)))' in a string")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else {
                throw error("a string is not valid UTF-8", at: open)
            }
            return s
        }
    }
}

extension JSONValue: Codable {
    /// Decodes any JSON value a `Decoder` holds (an integer within Int64 keeps its exact value).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .number(Double(i), exact: i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d, exact: nil)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value (a number by its exact integer when it has one).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d, let exact): if let exact { try c.encode(exact) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
