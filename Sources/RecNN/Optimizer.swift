import RecCore
import RecIO

/// A first-order optimiser over a model's parameters: `Adam` (the default) or `Adagrad` (with
/// momentum, GRU4Rec's). Each keeps its state in order of `parameters` and writes it to
/// checkpoints under its own prefix, so a run resumes exactly.
public protocol Optimizer: AnyObject {
    /// The parameters it updates, in order.
    var parameters: [Parameter] { get }
    /// The step size (may change between steps: SA2C's second phase).
    var learningRate: Float { get set }
    /// The prefix of its tensors in a checkpoint (`adam`, `adagrad`).
    var statePrefix: String { get }
    /// One update from the current gradients.
    func step(parallelism: Parallelism)
    /// The state as tensors named `PREFIX…`.
    func stateTensors(prefix: String) -> [String: Tensor]
    /// Restores what `stateTensors` wrote; all or nothing.
    /// - Throws: `.checkpoint` naming a missing or mis-sized tensor.
    func loadState(_ t: [String: Tensor], prefix: String, file: String) throws(RecNNError)
}

extension Adam: Optimizer {
    /// `adam`.
    public var statePrefix: String { "adam" }
}
