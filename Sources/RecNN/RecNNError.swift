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

/// Errors of the model layer.
public enum RecNNError: Error, Equatable, CustomStringConvertible {
    /// A checkpoint tensor that is missing or mis-shaped (file, tensor, what is wrong).
    case checkpoint(file: String, tensor: String?, message: String)
    /// An item id outside the embedding table, with its position in the batch.
    case itemOutOfRange(id: Int, position: Int, vocabulary: Int)
    /// A file that cannot be read or parsed (the error names it).
    case io(RecIOError)

    public var description: String {
        switch self {
        case .checkpoint(let f, let t, let m): return "\(f): " + (t.map { "tensor '\($0)': " } ?? "") + m
        case .itemOutOfRange(let id, let pos, let n):
            return "item id \(id) at position \(pos) of the batch is outside the embedding table (0..<\(n))"
        case .io(let e): return e.description
        }
    }
}
