import CYAML
import RecCore

/// A YAML document as nodes: scalars (their text, whatever the quoting), sequences and mappings
/// (keys in file order), each with its 1-based line. Composed from libyaml's events, so every YAML
/// spelling libyaml reads is read: block and flow collections, quoting, comments, anchors and
/// aliases (an alias is a copy of its anchor's node). Tags are read and ignored.
struct YAMLNode {
    enum Kind {
        case scalar(String)
        case sequence([YAMLNode])
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    let kind: Kind
    /// The line the node starts on (1-based).
    let line: Int

    var scalar: String? { if case .scalar(let s) = kind { s } else { nil } }
    var sequence: [YAMLNode]? { if case .sequence(let s) = kind { s } else { nil } }
    var mapping: [(key: YAMLNode, value: YAMLNode)]? { if case .mapping(let m) = kind { m } else { nil } }

    /// A YAML syntax or structure error: the message (libyaml's context and problem) and its line.
    struct SyntaxError: Error {
        let message: String
        let line: Int?
    }

    /// Collections nested deeper than this are refused (nodes are values, released recursively).
    static let maxDepth = 64

    /// The single document in `bytes` (nil for an empty stream).
    /// - Throws: `SyntaxError` for what libyaml refuses, an undefined alias, a duplicate scalar
    ///   key in one mapping, nesting deeper than `maxDepth`, or a second document.
    static func compose(_ bytes: [UInt8]) throws(SyntaxError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw SyntaxError(message: "YAML: the parser could not start (out of memory)", line: nil)
        }
        defer { yaml_parser_delete(&parser) }
        var composer = Composer()
        let result: Result<YAMLNode?, SyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            // An empty buffer's base address may be nil; libyaml reads `size` bytes from it.
            var empty: UInt8 = 0
            let base = buffer.baseAddress ?? withUnsafePointer(to: &empty) { $0 }
            yaml_parser_set_input_string(&parser, base, buffer.count)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return .failure(parserError(parser)) }
                defer { yaml_event_delete(&event) }
                do throws(SyntaxError) {
                    if try composer.take(event) { return .success(composer.root) }
                } catch { return .failure(error) }
            }
        }
        return try result.get()
    }

    /// libyaml's error as "YAML: context: problem" at the problem's line.
    private static func parserError(_ p: yaml_parser_t) -> SyntaxError {
        let problem = p.problem.map { String(cString: $0) } ?? "malformed YAML"
        let context = p.context.map { String(cString: $0) + ": " } ?? ""
        let hasMark = p.error == YAML_SCANNER_ERROR || p.error == YAML_PARSER_ERROR
        return SyntaxError(
            message: clipped("YAML: \(context)\(problem)", limit: 160),
            line: hasMark ? Int(p.problem_mark.line) + 1 : nil)
    }

    /// Builds nodes from events with an explicit stack (no recursion on the input's depth).
    private struct Composer {
        enum Frame {
            case sequence(items: [YAMLNode], line: Int, anchor: String?)
            case mapping(entries: [(key: YAMLNode, value: YAMLNode)], key: YAMLNode?, line: Int, anchor: String?)
        }
        var stack = [Frame]()
        var anchors = [String: YAMLNode]()
        var root: YAMLNode?
        var documents = 0

        /// Takes one event; true at the end of the stream.
        mutating func take(_ e: yaml_event_t) throws(SyntaxError) -> Bool {
            let line = Int(e.start_mark.line) + 1
            switch e.type {
            case YAML_STREAM_END_EVENT: return true
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                if documents > 1 {
                    throw SyntaxError(message: "YAML: expected a single document in the stream", line: line)
                }
            case YAML_SCALAR_EVENT:
                let s = e.data.scalar
                let text = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
                try add(YAMLNode(kind: .scalar(text), line: line), anchor: Self.string(s.anchor))
            case YAML_ALIAS_EVENT:
                let name = Self.string(e.data.alias.anchor) ?? ""
                guard let node = anchors[name] else {
                    throw SyntaxError(message: "YAML: found undefined alias '\(clipped(name))'", line: line)
                }
                try add(node, anchor: nil)
            case YAML_SEQUENCE_START_EVENT:
                try push(.sequence(items: [], line: line, anchor: Self.string(e.data.sequence_start.anchor)), line)
            case YAML_MAPPING_START_EVENT:
                try push(
                    .mapping(entries: [], key: nil, line: line, anchor: Self.string(e.data.mapping_start.anchor)), line)
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let top = stack.popLast() else { break }
                switch top {
                case .sequence(let items, let l, let anchor):
                    try add(YAMLNode(kind: .sequence(items), line: l), anchor: anchor)
                case .mapping(let entries, _, let l, let anchor):
                    var seen = Set<String>()
                    var duplicates = [String]()
                    for (k, _) in entries {
                        if let s = k.scalar, !seen.insert(s).inserted, !duplicates.contains(s) { duplicates.append(s) }
                    }
                    if !duplicates.isEmpty {
                        throw SyntaxError(
                            message: "YAML: duplicate keys \(duplicates.map { clipped($0) }.joined(separator: ", "))",
                            line: l)
                    }
                    try add(YAMLNode(kind: .mapping(entries), line: l), anchor: anchor)
                }
            default: break
            }
            return false
        }

        mutating func push(_ frame: Frame, _ line: Int) throws(SyntaxError) {
            guard stack.count < YAMLNode.maxDepth else {
                throw SyntaxError(
                    message: "YAML: collections nested deeper than \(YAMLNode.maxDepth) levels", line: line)
            }
            stack.append(frame)
        }

        /// Places a finished node in its parent (or as the root) and records its anchor.
        mutating func add(_ node: YAMLNode, anchor: String?) throws(SyntaxError) {
            if let anchor { anchors[anchor] = node }
            guard let top = stack.popLast() else {
                root = node
                return
            }
            switch top {
            case .sequence(var items, let l, let a):
                items.append(node)
                stack.append(.sequence(items: items, line: l, anchor: a))
            case .mapping(var entries, let key, let l, let a):
                if let key {
                    entries.append((key, node))
                    stack.append(.mapping(entries: entries, key: nil, line: l, anchor: a))
                } else {
                    stack.append(.mapping(entries: entries, key: node, line: l, anchor: a))
                }
            }
        }

        static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
    }
}
