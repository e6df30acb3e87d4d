import Foundation
import RecCore
import Yams

extension BetaPrior {
    /// Loads one campaign of a Bernoulli-TS prior file in the Open Bandit Dataset's format
    /// (`obp/policy/conf/prior_bts.yaml`):
    ///
    ///     all:
    ///       alpha:
    ///         - 47.0
    ///         ...
    ///       beta:
    ///         - 12198.0
    ///
    /// Any YAML spelling of that structure is read (Yams, on libyaml: flow lists `alpha: [47, 12]`,
    /// comments, quoting, anchors); each campaign is a mapping with `alpha` and `beta`, lists of
    /// positive finite numbers of equal length. Item i is the i-th list entry.
    /// - Throws: `RecOPEError.malformedFile` naming the file and line of a YAML syntax error, a
    ///   value that is not a positive finite number, an unknown key or a wrong structure; the
    ///   campaigns available when `campaign` is missing.
    public static func load(yaml path: String, campaign: String) throws(RecOPEError) -> BetaPrior {
        let data = try readFile(path)
        guard var text = String(data: data, encoding: .utf8) else {
            throw .malformedFile(file: path, line: nil, message: "not UTF-8 text")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // a byte-order mark
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw priorSyntaxError(error, file: path) }
        guard let top = root?.mapping else {
            throw .malformedFile(
                file: path, line: root?.mark?.line, message: "expected campaign names, each with alpha and beta lists")
        }
        var names = [String]()
        var found: Node?
        var foundLine: Int?
        for (key, value) in top {
            guard let name = key.scalar?.string else {
                throw .malformedFile(
                    file: path, line: key.mark?.line, message: "a campaign name must be a plain string")
            }
            names.append(name)
            if name == campaign {
                found = value
                foundLine = key.mark?.line
            }
        }
        guard let c = found else {
            throw .malformedFile(
                file: path, line: nil,
                message:
                    "no campaign '\(clipped(campaign))'; the file has \(names.map { clipped($0) }.joined(separator: ", "))"
            )
        }
        let lists = try priorLists(c, campaign: campaign, file: path)
        let a = lists["alpha"] ?? []
        let b = lists["beta"] ?? []
        guard !a.isEmpty, a.count == b.count else {
            throw .malformedFile(
                file: path, line: foundLine,
                message:
                    "campaign '\(clipped(campaign))' has \(a.count) alpha and \(b.count) beta values; they must match and not be empty"
            )
        }
        return try BetaPrior(alpha: a, beta: b)
    }

    /// The `alpha` and `beta` lists of one campaign's node.
    private static func priorLists(_ node: Node, campaign: String, file: String) throws(RecOPEError) -> [String:
        [Double]]
    {
        guard let m = node.mapping else {
            throw .malformedFile(
                file: file, line: node.mark?.line,
                message: "campaign '\(clipped(campaign))' must hold alpha: and beta: lists")
        }
        var lists = [String: [Double]]()
        for (key, value) in m {
            let name = key.scalar?.string ?? ""
            guard name == "alpha" || name == "beta" else {
                throw .malformedFile(
                    file: file, line: key.mark?.line, message: "unknown key '\(clipped(name))' (expected alpha or beta)"
                )
            }
            guard let items = value.sequence else {
                throw .malformedFile(file: file, line: value.mark?.line, message: "\(name) must be a list of numbers")
            }
            var values = [Double]()
            values.reserveCapacity(items.count)
            for item in items {
                let line = item.mark?.line
                guard let s = item.scalar?.string else {
                    throw .malformedFile(file: file, line: line, message: "\(name) entries must be numbers")
                }
                guard let v = Double(s.trimmingCharacters(in: .whitespaces)) else {
                    throw .malformedFile(file: file, line: line, message: "'\(clipped(s))' is not a number")
                }
                guard v > 0 && v.isFinite else {
                    throw .malformedFile(
                        file: file, line: line, message: "\(name) value \(s) must be positive and finite")
                }
                values.append(v)
            }
            lists[name] = values
        }
        return lists
    }

    /// A Yams error as a file error with its line.
    private static func priorSyntaxError(_ error: any Error, file: String) -> RecOPEError {
        guard let y = error as? YamlError else {
            return .malformedFile(file: file, line: nil, message: clipped("\(error)"))
        }
        switch y {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let what = context.map { "\($0.text): " } ?? ""
            return .malformedFile(file: file, line: mark.line, message: clipped("YAML: \(what)\(problem)", limit: 160))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return .malformedFile(
                file: file, line: context.mark.line,
                message: "YAML: duplicate keys \(duplicates.map { clipped($0) }.joined(separator: ", "))")
        default:
            return .malformedFile(file: file, line: nil, message: clipped("YAML: \(y)", limit: 160))
        }
    }
}
