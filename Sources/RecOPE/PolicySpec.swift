import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A ranking policy described by a small JSON object, as `reckit marginals` and
/// `reckit offline-ab` read it. Paths inside a spec are relative to the spec file's folder.
///
/// | key | kinds | meaning |
/// |---|---|---|
/// | `kind` | all | `bernoulli_ts`, `priority_ts`, `dts`, `dots`, `plackett_luce`, `epsilon_greedy`, `uniform` |
/// | `prior`, `campaign` | TS kinds | an OBD-format prior file and its campaign (default `all`) |
/// | `alpha`, `beta` | TS kinds | the prior inline, instead of `prior` |
/// | `clicks`, `impressions` | `bernoulli_ts`, `priority_ts` | observed counts per item, added to the prior |
/// | `boost` | TS kinds | `{"items": [..], "rule": "additive" or "multiplicative", "amount": x}` (required for `priority_ts`) |
/// | `optimistic` | `bernoulli_ts`, `priority_ts` | dOTS-style optimism without discounting |
/// | `discount`, `period_hours` | `dts`, `dots` | γ and the period (default 0.99 and 4 hours) |
/// | `log` | `dts`, `dots` | CSV of `time,item,click` rows (time in seconds, click 0/1), time-ordered |
/// | `at` | `dts`, `dots` | advance the discounting to this time (seconds) after the log |
/// | `scores` | `plackett_luce`, `epsilon_greedy` | item scores inline, or `scores_file`: a one-column CSV |
/// | `temperature` | `plackett_luce` | > 0 (default 1) |
/// | `epsilon` | `epsilon_greedy` | in [0, 1] |
/// | `items` | `uniform` | number of items |
public enum PolicySpec {
    /// Reads a spec file and builds its policy.
    /// - Throws: `RecOPEError` naming the file and the key that is wrong.
    public static func load(_ path: String) throws(RecOPEError) -> any RankingPolicy {
        try parse(try readFile(path), file: path, base: URL(fileURLWithPath: path).deletingLastPathComponent())
    }

    /// Builds the policy of a spec given as JSON bytes, with every check `load` makes; `file`
    /// names it in errors (a path, or a label such as "the spec"), `base` resolves relative paths.
    /// - Throws: `RecOPEError` naming `file` and the key that is wrong.
    public static func parse(_ data: Data, file path: String, base: URL) throws(RecOPEError) -> any RankingPolicy {
        let object: JSONValue
        do { object = try JSONValue.parse(data) } catch {
            let (line, what) = JSONDiagnosis.problem(in: data, error: error)
            throw .malformedFile(file: path, line: line, message: "not valid JSON: " + what)
        }
        guard let spec = object.object else {
            throw .malformedFile(file: path, line: nil, message: "the spec must be a JSON object")
        }
        if let (line, key) = JSONDiagnosis.duplicateKey(in: data) {
            throw .malformedFile(
                file: path, line: line,
                message: "key \"\(clipped(key))\" appears twice in one object (which one is meant?)")
        }
        // Errors of the values (a policy's own checks) name the spec file too.
        do { return try build(spec, file: path, base: base) } catch {
            switch error {
            case .invalidParameter(let m), .unsupported(let m):
                throw .malformedFile(file: path, line: nil, message: m)
            default: throw error
            }
        }
    }

    /// Builds a policy from a parsed spec; `file` names it in errors, `base` resolves relative paths.
    public static func build(_ spec: [String: JSONValue], file: String, base: URL) throws(RecOPEError)
        -> any RankingPolicy
    {
        try read(spec, file: file, base: base).policy(relativeTo: base)
    }

    /// Reads a parsed spec into its Swift value (no file it names is read yet): the kind and every
    /// key checked, an unknown one refused with the keys the kind takes.
    /// - Throws: `.malformedFile` naming `file` and the key that is wrong.
    public static func read(_ spec: [String: JSONValue], file: String, base: URL) throws(RecOPEError)
        -> AnyPolicySpec
    {
        let r = Reader(spec: spec, file: file, base: base)
        let kind = try r.string("kind")
        let type = kinds.first { $0.names.contains(kind) }
        if let allowed = type?.keys, let unknown = spec.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw r.error(
                "unknown key \"\(clipped(unknown))\" for kind \(kind) (it takes: \(allowed.sorted().joined(separator: ", ")))"
            )
        }
        if let b = spec["boost"]?.object,
            let unknown = b.keys.filter({ !["items", "rule", "amount"].contains($0) }).sorted().first
        {
            throw r.error("unknown key \"\(clipped(unknown))\" in \"boost\" (it takes: amount, items, rule)")
        }
        guard let type else {
            let names = kinds.flatMap(\.names)
            throw r.error(
                "unknown kind '\(clipped(kind))' (expected \(names.dropLast().joined(separator: ", ")) or \(names.last!))"
            )
        }
        return try type.read(r, kind)
    }

    /// `path` resolved against `base` unless it is absolute.
    static func resolve(_ path: String, _ base: URL) -> String {
        path.hasPrefix("/") ? path : base.appendingPathComponent(path).path
    }

    /// Every kind of spec, in the order errors list them (one type each, `PolicySpecKinds.swift`).
    static let kinds: [Kind] = [
        Kind(ThompsonSamplingSpec.self), Kind(DiscountedThompsonSamplingSpec.self), Kind(PlackettLuceSpec.self),
        Kind(EpsilonGreedySpec.self), Kind(UniformSpec.self),
    ]

    /// A kind's names and keys, and its reading (a generic entry: no existential metatype to open).
    struct Kind: Sendable {
        let names: [String]
        let keys: Set<String>
        let read: @Sendable (Reader, String) throws(RecOPEError) -> AnyPolicySpec

        init<K: PolicySpecKind>(_ type: K.Type) {
            names = K.names
            keys = K.keys
            read = { (r: Reader, name: String) throws(RecOPEError) -> AnyPolicySpec in
                try K(reading: r, kind: name).any
            }
        }
    }

    struct Reader {
        let spec: [String: JSONValue]
        let file: String
        let base: URL

        func error(_ m: String) -> RecOPEError { .malformedFile(file: file, line: nil, message: m) }

        func string(_ key: String) throws(RecOPEError) -> String {
            guard let v = spec[key] else { throw error("missing \"\(key)\"") }
            guard let s = v.string else { throw error("\"\(key)\" must be a string") }
            return s
        }

        func number(_ key: String) throws(RecOPEError) -> Double? {
            guard let v = spec[key] else { return nil }
            guard let d = v.number else { throw error("\"\(key)\" must be a number") }
            guard d.isFinite else { throw error("\"\(key)\" must be finite") }
            return d
        }

        func bool(_ key: String) throws(RecOPEError) -> Bool? {
            guard let v = spec[key] else { return nil }
            guard case .bool(let b) = v else { throw error("\"\(key)\" must be true or false") }
            return b
        }

        func numbers(_ key: String, required: Bool) throws(RecOPEError) -> [Double]? {
            guard let v = spec[key] else {
                if required { throw error("missing \"\(key)\"") }
                return nil
            }
            guard let arr = v.array else { throw error("\"\(key)\" must be an array of numbers") }
            var out = [Double]()
            for (i, x) in arr.enumerated() {
                guard let d = x.number else { throw error("\"\(key)\"[\(i)] is not a number") }
                out.append(d)
            }
            return out
        }

        func boost() throws(RecOPEError) -> PriorityBoost? {
            guard let v = spec["boost"] else { return nil }
            guard let b = v.object else { throw error("\"boost\" must be an object") }
            let sub = Reader(spec: b, file: file, base: base)
            guard let items = try sub.numbers("items", required: true) else { return nil }
            let amount = try sub.number("amount") ?? 0
            let rule: PriorityBoost.Rule
            switch try sub.string("rule") {
            case "additive": rule = .additive(amount)
            case "multiplicative": rule = .multiplicative(amount)
            case let other: throw error("boost rule must be additive or multiplicative, got '\(clipped(other))'")
            }
            if let bad = items.first(where: { !($0 == $0.rounded() && $0 >= 0 && $0 < Double(Int32.max)) }) {
                throw error(
                    "boost items must be item indices (non-negative integers), got \(cFormat("%g", bad))")
            }
            return PriorityBoost(items: Set(items.map { Int($0) }), rule: rule)
        }
    }
}
