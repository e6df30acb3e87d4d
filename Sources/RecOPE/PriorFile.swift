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
    /// Any YAML spelling of that structure is read (libyaml's parser: flow lists `alpha: [47, 12]`,
    /// comments, quoting, anchors); each campaign is a mapping with `alpha` and `beta`, lists of
    /// positive finite numbers of equal length. Item i is the i-th list entry.
    /// - Throws: `RecOPEError.malformedFile` naming the file and line of a YAML syntax error, a
    ///   value that is not a positive finite number, an unknown key or a wrong structure; the
    ///   campaigns available when `campaign` is missing.
    public static func load(yaml path: String, campaign: String) throws(RecOPEError) -> BetaPrior {
        let data = try readFile(path)
        var bytes = [UInt8](data)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw .malformedFile(file: path, line: nil, message: "not UTF-8 text")
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // a byte-order mark
        let root: YAMLNode?
        do { root = try YAMLNode.compose(bytes) } catch {
            throw .malformedFile(file: path, line: error.line, message: error.message)
        }
        guard let top = root?.mapping else {
            throw .malformedFile(
                file: path, line: root?.line, message: "expected campaign names, each with alpha and beta lists")
        }
        var names = [String]()
        var found: YAMLNode?
        var foundLine: Int?
        for (key, value) in top {
            guard let name = key.scalar else {
                throw .malformedFile(
                    file: path, line: key.line, message: "a campaign name must be a plain string")
            }
            names.append(name)
            if name == campaign {
                found = value
                foundLine = key.line
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
    private static func priorLists(_ node: YAMLNode, campaign: String, file: String) throws(RecOPEError) -> [String:
        [Double]]
    {
        guard let m = node.mapping else {
            throw .malformedFile(
                file: file, line: node.line,
                message: "campaign '\(clipped(campaign))' must hold alpha: and beta: lists")
        }
        var lists = [String: [Double]]()
        for (key, value) in m {
            let name = key.scalar ?? ""
            guard name == "alpha" || name == "beta" else {
                throw .malformedFile(
                    file: file, line: key.line, message: "unknown key '\(clipped(name))' (expected alpha or beta)"
                )
            }
            guard let items = value.sequence else {
                throw .malformedFile(file: file, line: value.line, message: "\(name) must be a list of numbers")
            }
            var values = [Double]()
            values.reserveCapacity(items.count)
            for item in items {
                let line = item.line
                guard let s = item.scalar else {
                    throw .malformedFile(file: file, line: line, message: "\(name) entries must be numbers")
                }
                guard let v = Double(s.trimmingWhitespace()) else {
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
}
