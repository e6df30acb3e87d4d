#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Errors RecCore reports for bad arguments that come from data or users (not programmer bugs).
public enum RecCoreError: Error, Equatable, CustomStringConvertible {
    /// An argument outside its allowed range, with a message naming it.
    case invalidArgument(String)
    /// An exclusion set names an item outside the catalog.
    case itemOutOfRange(row: Int, item: Int, catalogSize: Int)

    public var description: String {
        switch self {
        case .invalidArgument(let m): return m
        case .itemOutOfRange(let row, let item, let n):
            return "exclusion set of row \(row) names item \(item), outside the catalog of \(n) items (0..<\(n))"
        }
    }
}
