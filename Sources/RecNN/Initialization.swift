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

/// Parameter initialisation schemes.
public enum Initialization: Sendable {
    /// PyTorch's defaults: Linear weight and bias U(−1/√fan_in, 1/√fan_in); embeddings N(0, 1).
    case pytorchDefault
    /// N(0, std²) for weights and embeddings, zero biases (the SQN authors used std = 0.01).
    case normal(std: Float)
    /// TensorFlow's dense-layer defaults, as in the SQN/SA2C authors' code: weights
    /// U(±√(6/(fan_in + fan_out))) (Glorot), zero biases; embeddings N(0, embeddingStd²).
    case xavierUniform(embeddingStd: Float)
}
