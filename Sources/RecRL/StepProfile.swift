import RecCore
import RecIO
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Where a step's time goes, summed over steps (seconds). The part phases are summed over the
/// parts (time on their threads); combine, reduce and Adam are wall time of the calling thread.
public struct StepProfile: Sendable, Codable, Equatable {
    /// Steps profiled.
    public var steps = 0
    /// Encoder forward with dropout (the trained network).
    public var encoderForward = 0.0
    /// Q passes: both networks' forwards over the next states (and states), main's argmax over
    /// the catalog, the TD columns and their backward.
    public var qPasses = 0.0
    /// Softmax head: logits and log-sum-exp.
    public var headForward = 0.0
    /// Softmax head: its gradient, dW, db, dS.
    public var headBackward = 0.0
    /// Encoder backward.
    public var encoderBackward = 0.0
    /// Adding the parts' gradients.
    public var combine = 0.0
    /// Sums across the processes of a group.
    public var reduce = 0.0
    /// Adam's updates.
    public var adam = 0.0
    /// Zero time, no steps.
    public init() {}

    /// (phase, seconds) in step order.
    public var phases: [(String, Double)] {
        [
            ("encoder_forward", encoderForward), ("q_passes", qPasses), ("head_forward", headForward),
            ("head_backward", headBackward),
            ("encoder_backward", encoderBackward), ("combine_parts", combine), ("reduce", reduce), ("adam", adam),
        ]
    }

    static func + (a: StepProfile, b: StepProfile) -> StepProfile {
        var s = a
        s.encoderForward += b.encoderForward
        s.qPasses += b.qPasses
        s.headForward += b.headForward
        s.headBackward += b.headBackward
        s.encoderBackward += b.encoderBackward
        return s
    }
}

/// Losses of one step (means over the batch).
public struct StepLosses: Sendable {
    /// The supervised (cross-entropy) loss.
    public var ce = 0.0
    /// The TD loss of the Q head (0 for CE).
    public var q = 0.0
    /// The sum of both.
    public var total: Double { ce + q }
}
