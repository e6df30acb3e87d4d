import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Errors of the offline-evaluation layer: each names what is wrong, and the file and line for files.
public enum RecOPEError: Error, Equatable, CustomStringConvertible {
    /// A parameter outside its domain (message names it and its value).
    case invalidParameter(String)
    /// A file that cannot be read.
    case cannotOpen(file: String, reason: String)
    /// A file that cannot be written (the old one, if any, is left as it was).
    case cannotWrite(file: String, reason: String)
    /// A file whose content is wrong at `line` (1-based) when known.
    case malformedFile(file: String, line: Int?, message: String)
    /// The operation does not exist for this policy.
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidParameter(let m): return m
        case .cannotOpen(let f, let r): return "\(f): cannot open (\(r))"
        case .cannotWrite(let f, let r): return "\(f): cannot write (\(r))"
        case .malformedFile(let f, let l, let m): return l.map { "\(f):\($0): \(m)" } ?? "\(f): \(m)"
        case .unsupported(let m): return m
        }
    }

    /// The same error naming `label` where it named the file `path` (a temporary copy of an
    /// input is reported under the input's own name).
    public func renamingFile(_ path: String, to label: String) -> RecOPEError {
        switch self {
        case .cannotOpen(let f, let r) where f == path: return .cannotOpen(file: label, reason: r)
        case .cannotWrite(let f, let r) where f == path: return .cannotWrite(file: label, reason: r)
        case .malformedFile(let f, let l, let m) where f == path:
            return .malformedFile(file: label, line: l, message: m)
        default: return self
        }
    }
}
