import ArgumentParser
import Foundation
import RecKit

/// `reckit simulate --study`: bias, RMSE and interval coverage of every estimator over many simulated logs.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Simulation study: bias and RMSE of each off-policy estimator against the exact value of each candidate, over many simulated feeds."
    )

    @Flag(help: "Run the estimator study (the only mode for now).") var study = false
    @Option(help: "Simulated logs.") var runs: Int = 50
    @Option(help: "First seed.") var seed: UInt64 = 1
    @Option(help: "Requests per 4-hour period.") var requests: Int = 500
    @Option(help: "Weight caps; repeat for several.") var cap: [Double] = [2, 5, 10]
    @Option(help: "Poisson bootstrap replicates per log (0: normal intervals only).") var bootstrap: Int = 0
    @Flag(
        help:
            "Also compute the empirical-likelihood interval of the policy's value (every estimator from the (weight, reward) pairs; the DR family per reward model) and report its coverage and width."
    )
    var likelihood = false
    @Option(help: "The empirical-likelihood interval's weight bound (> 1; default: each log's largest weight).")
    var weightBound: Double?
    @Option(help: "Write the study's rows as JSON to this file (atomically).") var json: String?
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard study else { throw ValidationError("give --study (the estimator study)") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
        guard bootstrap >= 0, bootstrap <= 100_000 else { throw ValidationError("--bootstrap must be in 0...100000") }
        if let b = weightBound, !(b > 1 && b.isFinite) {
            throw ValidationError("--weight-bound must be finite and above 1, got \(b)")
        }
        if weightBound != nil && !likelihood { throw ValidationError("--weight-bound goes with --likelihood") }
    }

    func run() throws {
        try threading.apply()
        try runReporting {
            try checkOutputs(json)
            var config = FeedSimulator.Config()
            config.requestsPerPeriod = requests
            var settings = EvaluationSettings()
            settings.caps = cap
            settings.bootstrap = bootstrap
            if likelihood {
                settings.likelihood = .computed
                settings.weightBound = weightBound
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let rows = try FeedSimulator(config: config).study(runs: runs, seed: seed, settings: settings)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            print(
                "policy        estimator                  cap    mean truth   bias        RMSE        RMSE/truth  normal cover  bootstrap cover  normal width  bootstrap width"
                    + (likelihood ? "  EL cover  EL width" : "") + "  oracle width"
            )
            for r in rows {
                print(
                    r.policy.padding(toLength: 14, withPad: " ", startingAt: 0)
                        + r.estimator.padding(toLength: 27, withPad: " ", startingAt: 0)
                        + (r.cap.map { String(format: "%g", $0) } ?? "-").padding(
                            toLength: 7, withPad: " ", startingAt: 0)
                        + String(
                            format: "%.6f     %+.6f   %.6f    %.3f       %.3f", r.meanTruth, r.bias, r.rmse,
                            r.rmse / r.meanTruth, r.normalCoverage)
                        + (r.bootstrapCoverage.map { String(format: "         %.3f", $0) } ?? "         -")
                        + String(format: "            %.6f", r.normalWidth)
                        + (r.bootstrapWidth.map { String(format: "      %.6f", $0) } ?? "      -")
                        + (likelihood
                            ? (r.likelihoodCoverage.map { String(format: "         %.3f", $0) } ?? "         -")
                                + (r.likelihoodWidth.map { String(format: "     %.6f", $0) } ?? "     -") : "")
                        + String(format: "  %.6f", r.oracleWidth))
            }
            if let json {
                let (data, nonFinite) = try JSONOutput.encode(rows, pretty: true, what: json)
                if let w = JSONOutput.warning(nonFinite, in: json) { stderrLine(w) }
                try AtomicFile.write(data, to: json)
            }
            stderrLine(String(format: "%ld simulated logs in %.1f s", runs, ms / 1000))
        }
    }
}
