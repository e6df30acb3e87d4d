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

/// The training settings `reckit tune` searches, and the values it tries for each: a JSON object
/// from setting name to a distribution, for example
/// `{"lr": {"log_uniform": [0.0005, 0.02]}, "dim": {"choice": [32, 64, 128]}, "dropout": {"uniform": [0, 0.5]}}`.
///
/// Trial `t` draws every setting from its own stream (`RandomStream(seed:).split(t)`), so a
/// trial's settings depend on the space, the seed and `t` only: a search that stops can go on
/// where it stopped, and any budget gives the same first trials.
public struct SearchSpace: Sendable, Equatable {
    /// How a setting's value is drawn.
    public enum Distribution: Sendable, Equatable {
        /// One of the listed values, each equally likely.
        case choice([Double])
        /// Uniform on `[low, high]`.
        case uniform(Double, Double)
        /// `exp` of uniform on `[log low, log high]` (`0 < low`).
        case logUniform(Double, Double)
        /// An integer, uniform on `low...high`.
        case integer(Int, Int)
    }

    /// The settings a space can name: the `reckit train` option each sets, and whether it is an
    /// integer.
    public static let settings: [String: (option: String, integer: Bool)] = [
        "lr": ("--lr", false), "lr2": ("--lr2", false), "dim": ("--dim", true), "heads": ("--heads", true),
        "blocks": ("--blocks", true), "dropout": ("--dropout", false), "gamma": ("--gamma", false),
        "negatives": ("--negatives", true), "batch": ("--batch", true), "epochs": ("--epochs", true),
        "neighbours": ("--neighbours", true), "momentum": ("--momentum", false), "bpr_reg": ("--bpr-reg", false),
        "elu": ("--elu", false), "sample_alpha": ("--sampler popularity:ALPHA", false),
    ]

    /// The one setting of the kNN baselines (`BaselineRanker.named`): items for itemknn, sessions
    /// for sknn and vsknn. A search over a baseline takes it alone; a training search refuses it.
    public static let baselineSettings: Set<String> = ["neighbours"]

    /// The searched settings and their distributions, by name.
    public var parameters: [String: Distribution]

    /// A space over `parameters`.
    /// - Throws: `.invalidParameter` for a setting that cannot be searched or a distribution
    ///   that gives values it cannot take.
    public init(parameters: [String: Distribution]) throws(RecRLError) {
        for (name, d) in parameters.sorted(by: { $0.key < $1.key }) { try Self.check(name, d) }
        self.parameters = parameters
    }

    /// The setting names, sorted (the order of draws and of the trials file's columns).
    public var names: [String] { parameters.keys.sorted() }

    /// Reads a space from JSON; `file` names it in errors.
    /// - Throws: `.malformed`/`.invalidParameter` naming the file and the setting.
    public static func parse(_ data: Data, file: String) throws(RecRLError) -> SearchSpace {
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch {
            throw .invalidParameter("\(file): not valid JSON: \(error)")
        }
        guard let object = value.object, !object.isEmpty else {
            throw .invalidParameter(
                "\(file): the search space must be a JSON object of settings, e.g. {\"lr\": {\"log_uniform\": [0.0005, 0.02]}}"
            )
        }
        var out = [String: Distribution]()
        for (name, spec) in object.sorted(by: { $0.key < $1.key }) {
            func bad(_ m: String) -> RecRLError { .invalidParameter("\(file): setting \"\(clipped(name))\": \(m)") }
            guard settings[name] != nil else {
                throw .invalidParameter(
                    "\(file): unknown setting \"\(clipped(name))\" (searchable: \(settings.keys.sorted().joined(separator: ", ")))"
                )
            }
            guard let o = spec.object, o.count == 1, let (kind, arg) = o.first else {
                throw bad(
                    "expected one of {\"choice\": [...]}, {\"uniform\": [low, high]}, {\"log_uniform\": [low, high]}, {\"int\": [low, high]}"
                )
            }
            guard let list = arg.array, !list.isEmpty else { throw bad("\"\(clipped(kind))\" takes a non-empty array") }
            var numbers = [Double]()
            for (i, x) in list.enumerated() {
                guard let d = x.number, d.isFinite else {
                    throw bad("\"\(clipped(kind))\"[\(i)] is not a finite number")
                }
                numbers.append(d)
            }
            let d: Distribution
            switch kind {
            case "choice": d = .choice(numbers)
            case "uniform", "log_uniform", "int":
                guard numbers.count == 2 else { throw bad("\"\(kind)\" takes [low, high]") }
                if kind == "int" {
                    guard numbers.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else {
                        throw bad("\"int\" bounds must be integers")
                    }
                    d = .integer(Int(numbers[0]), Int(numbers[1]))
                } else {
                    d = kind == "uniform" ? .uniform(numbers[0], numbers[1]) : .logUniform(numbers[0], numbers[1])
                }
            default:
                throw bad("unknown distribution \"\(clipped(kind))\" (choice, uniform, log_uniform or int)")
            }
            out[name] = d
        }
        do { return try SearchSpace(parameters: out) } catch {
            throw .invalidParameter("\(file): \(error)")
        }
    }

    static func check(_ name: String, _ d: Distribution) throws(RecRLError) {
        guard let s = settings[name] else {
            throw .invalidParameter(
                "unknown setting \"\(clipped(name))\" (searchable: \(settings.keys.sorted().joined(separator: ", ")))")
        }
        func bad(_ m: String) -> RecRLError { .invalidParameter("setting \"\(name)\": \(m)") }
        switch d {
        case .choice(let v):
            guard !v.isEmpty, v.allSatisfy(\.isFinite) else { throw bad("choice needs finite values") }
            if s.integer, let x = v.first(where: { $0 != $0.rounded() }) {
                throw bad("is an integer setting; \(x) is not an integer")
            }
        case .uniform(let lo, let hi), .logUniform(let lo, let hi):
            guard lo.isFinite, hi.isFinite, lo <= hi else { throw bad("needs low ≤ high, got [\(lo), \(hi)]") }
            if case .logUniform = d, lo <= 0 { throw bad("log_uniform needs 0 < low, got \(lo)") }
            if s.integer { throw bad("is an integer setting: use \"int\" or \"choice\"") }
        case .integer(let lo, let hi):
            guard lo <= hi else { throw bad("needs low ≤ high, got [\(lo), \(hi)]") }
            guard s.integer else { throw bad("is not an integer setting: use \"uniform\" or \"log_uniform\"") }
        }
    }

    /// Trial `trial`'s settings (for `seed`), by name.
    public func sample(trial: Int, seed: UInt64) -> [String: Double] {
        let stream = RandomStream(seed: seed).split(trial)
        var out = [String: Double]()
        for (k, name) in names.enumerated() {
            var g = stream.split(k).generator()
            let u = Sampling.uniform(&g)
            switch parameters[name]! {
            case .choice(let v): out[name] = v[min(Int(u * Double(v.count)), v.count - 1)]
            case .uniform(let lo, let hi): out[name] = lo + (hi - lo) * u
            case .logUniform(let lo, let hi): out[name] = exp(log(lo) + (log(hi) - log(lo)) * u)
            case .integer(let lo, let hi): out[name] = Double(lo + min(Int(u * Double(hi - lo + 1)), hi - lo))
            }
        }
        return out
    }
}

extension TrainingJob {
    /// Sets a searchable setting (`SearchSpace.settings`) to `value`.
    /// - Throws: `.invalidParameter` for an unknown setting or a non-integer value of an integer one.
    public mutating func set(_ name: String, to value: Double) throws(RecRLError) {
        guard let s = SearchSpace.settings[name] else {
            throw .invalidParameter(
                "unknown setting \"\(clipped(name))\" (searchable: \(SearchSpace.settings.keys.sorted().joined(separator: ", ")))"
            )
        }
        guard value.isFinite, !s.integer || (value == value.rounded() && abs(value) < 1e9) else {
            throw .invalidParameter("setting \"\(name)\" must be \(s.integer ? "an integer" : "finite"), got \(value)")
        }
        if SearchSpace.baselineSettings.contains(name) {
            throw .invalidParameter(
                "setting \"\(name)\" is a baseline's (reckit tune --baseline), not a training setting")
        }
        let i = Int(value)
        func needs(_ what: String) -> RecRLError {
            .invalidParameter("setting \"\(name)\" is \(what)'s, and this job has none")
        }
        switch name {
        case "momentum":
            guard case .adagrad = settings.optimizer else {
                throw needs("Adagrad (--optimizer adagrad, --algo gru4rec)")
            }
            guard value >= 0 && value < 1 else {
                throw .invalidParameter("setting \"momentum\" must be in [0, 1), got \(value)")
            }
            settings.optimizer = .adagrad(momentum: Float(value))
        case "bpr_reg", "elu":
            guard case .bprMax = settings.objective else {
                throw needs("bpr-max (--objective bpr-max, --algo gru4rec)")
            }
            guard value >= 0 else { throw .invalidParameter("setting \"\(name)\" must be at least 0, got \(value)") }
            settings.objective =
                name == "elu"
                ? settings.objective.replacing(elu: value) : settings.objective.replacing(regularization: value)
        case "sample_alpha":
            guard settings.objective.isSampled, settings.objective.sampler?.usesBatch == false else {
                throw needs("a sampled objective with uniform or popularity negatives")
            }
            guard value >= 0 else {
                throw .invalidParameter("setting \"sample_alpha\" must be at least 0, got \(value)")
            }
            settings.objective = settings.objective.replacing(sampler: .popularity(alpha: value))
        case "negatives":
            // The Q head's, and a sampled objective's (as --negatives sets both).
            settings.negatives = i
            if settings.objective.isSampled { settings.objective = settings.objective.replacing(negatives: i) }
        case "lr": settings.learningRate = Float(value)
        case "lr2": settings.learningRate2 = Float(value)
        case "dim": model.dim = i
        case "heads": model.heads = i
        case "blocks": model.blocks = i
        case "dropout": model.dropout = Float(value)
        case "gamma": gamma = Float(value)
        case "batch": settings.batch = i
        default: epochs = i  // "epochs"
        }
    }
}
