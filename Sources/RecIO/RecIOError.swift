import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Errors from reading and writing files: each names the file and, where it applies, the line
/// (1-based) and the field (1-based column).
public enum RecIOError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be opened (missing, a directory, no permission: `reason` says).
    case cannotOpen(file: String, reason: String)
    /// The file has no data.
    case empty(file: String)
    /// A malformed line: the file, line, field (from 1, when known) and what is wrong.
    case malformed(file: String, line: Int, field: Int?, message: String)
    /// The file cannot be written (`reason` says why).
    case cannotWrite(file: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let f, let r): return "\(f): cannot open (\(r))"
        case .empty(let f): return "\(f): no data rows"
        case .malformed(let f, let l, let fld, let m):
            let at = l > 0 ? "\(f):\(l)" : f  // line 0: a binary file or the file as a whole
            return fld.map { "\(at): field \($0): \(m)" } ?? "\(at): \(m)"
        case .cannotWrite(let f, let r): return "\(f): cannot write (\(r))"
        }
    }

    /// What went wrong, without the file's name (for a message that names the file itself).
    public var reason: String {
        switch self {
        case .cannotOpen(_, let r), .cannotWrite(_, let r): return r
        case .empty: return "no data rows"
        case .malformed(_, let l, let fld, let m): return "line \(l)" + (fld.map { ", field \($0)" } ?? "") + ": " + m
        }
    }
}
