import ArgumentParser
import RecKit

// The library's named choices as command-line values: an unknown value is an error that lists
// the valid ones (ArgumentParser's message), and `--help` shows them.
extension Algorithm: ExpressibleByArgument {}
extension TrainingMethod: ExpressibleByArgument {}
extension EncoderKind: ExpressibleByArgument {}
extension SASRec.Layout: ExpressibleByArgument {}
extension SequentialRecommender.Head: ExpressibleByArgument {}
extension RewardTable.PriceScaling: ExpressibleByArgument {}
extension EventLogFormat: ExpressibleByArgument {}
extension CatalogKernel: ExpressibleByArgument {}

/// The sessions `reckit evaluate` scores: the test or the validation part of the split.
enum SplitPart: String, CaseIterable, ExpressibleByArgument {
    case test, valid

    /// Also accepts `validation`.
    init?(argument: String) {
        self.init(rawValue: argument == "validation" ? "valid" : argument)
    }
}

/// `--interval`: which interval the estimators of the policy value from weights and rewards (IS, SNIPS, the capped ones) and the DR family report.
enum IntervalChoice: String, ExpressibleByArgument, CaseIterable {
    /// The bootstrap's with replicates, else the normal.
    case auto
    /// The empirical-likelihood interval (`EmpiricalLikelihood`).
    case empiricalLikelihood = "empirical-likelihood"
}
