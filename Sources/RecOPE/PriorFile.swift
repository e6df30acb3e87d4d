import Foundation
import RecCore

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
    /// Only this subset of YAML is read (top-level campaign keys, `alpha:`/`beta:` lists of
    /// numbers; `#` comments and blank lines skipped). Item i is the i-th list entry.
    /// - Throws: `RecOPEError` naming the file and line of a malformed line or a bad value, or the
    ///   campaigns available when `campaign` is missing.
    public static func load(yaml path: String, campaign: String) throws(RecOPEError) -> BetaPrior {
        let data = try readFile(path)
        guard var text = String(data: data, encoding: .utf8) else {
            throw .malformedFile(file: path, line: nil, message: "not UTF-8 text")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // a byte-order mark
        var campaigns = [String: [String: [Double]]]()
        var order = [String]()
        var current: String?
        var list: String?
        for (idx, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNo = idx + 1
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            if line.last == "\r" { line = line.dropLast() }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let indent = line.prefix { $0 == " " }.count
            let body = line.trimmingCharacters(in: .whitespaces)
            if indent == 0 {
                guard body.hasSuffix(":") else {
                    throw .malformedFile(
                        file: path, line: lineNo,
                        message: "expected a campaign name ending in ':', got '\(clipped(body))'")
                }
                let name = String(body.dropLast())
                current = name
                list = nil
                if campaigns[name] == nil {
                    campaigns[name] = [:]
                    order.append(name)
                }
            } else if body.hasPrefix("-") {
                guard let c = current, let l = list else {
                    throw .malformedFile(file: path, line: lineNo, message: "list item outside an alpha:/beta: list")
                }
                let valueText = body.dropFirst().trimmingCharacters(in: .whitespaces)
                guard let v = Double(valueText) else {
                    throw .malformedFile(file: path, line: lineNo, message: "'\(clipped(valueText))' is not a number")
                }
                guard v > 0 && v.isFinite else {
                    throw .malformedFile(
                        file: path, line: lineNo, message: "\(l) value \(valueText) must be positive and finite")
                }
                campaigns[c]![l, default: []].append(v)
            } else if body.hasSuffix(":") {
                guard current != nil else {
                    throw .malformedFile(
                        file: path, line: lineNo, message: "'\(clipped(body))' before any campaign name")
                }
                let key = String(body.dropLast())
                guard key == "alpha" || key == "beta" else {
                    throw .malformedFile(
                        file: path, line: lineNo, message: "unknown key '\(clipped(key))' (expected alpha or beta)")
                }
                list = key
            } else {
                throw .malformedFile(file: path, line: lineNo, message: "cannot read '\(clipped(body))'")
            }
        }
        guard let c = campaigns[campaign] else {
            throw .malformedFile(
                file: path, line: nil,
                message: "no campaign '\(clipped(campaign))'; the file has \(order.joined(separator: ", "))")
        }
        let a = c["alpha"] ?? []
        let b = c["beta"] ?? []
        guard !a.isEmpty, a.count == b.count else {
            throw .malformedFile(
                file: path, line: nil,
                message:
                    "campaign '\(clipped(campaign))' has \(a.count) alpha and \(b.count) beta values; they must match and not be empty"
            )
        }
        return try BetaPrior(alpha: a, beta: b)
    }
}
