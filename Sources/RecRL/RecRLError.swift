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

/// Errors of the RL half: every one names what was wrong and where.
public enum RecRLError: Error, Equatable, CustomStringConvertible {
    /// A file could not be read or a row could not be parsed (`file:line: field`).
    case io(RecIOError)
    /// A malformed row: the file, line, field and what is wrong.
    case malformed(file: String, line: Int, field: String, message: String)
    /// A column the loader needs is not in the header (which is listed).
    case missingColumn(file: String, column: String, header: [String])
    /// An event value the mapping does not know (the known values are listed).
    case unknownEventType(file: String, line: Int, value: String, known: [String])
    /// An event type of the data without a reward in the table.
    case missingReward(eventType: String, table: [String])
    /// Nothing left to train or evaluate on (what is empty).
    case empty(String)
    /// A parameter out of its range (named with its value).
    case invalidParameter(String)
    /// A split file that is malformed or does not match the data.
    case split(file: String, line: Int?, message: String)
    /// Training diverged at a step; the last good checkpoint, when there is one, is kept.
    case diverged(step: Int, message: String, checkpoint: String?)
    /// A checkpoint or model that cannot be used (the message names the file).
    case model(String)

    public var description: String {
        switch self {
        case .io(let e): return e.description
        case .malformed(let f, let l, let fld, let m): return "\(f):\(l): field \(fld): \(m)"
        case .missingColumn(let f, let c, let h):
            return "\(f): no column '\(clipped(c))' in the header (\(clipped(h.joined(separator: ", "), limit: 200)))"
        case .unknownEventType(let f, let l, let v, let k):
            return
                "\(f):\(l): unknown event type '\(clipped(v))' (known: \(clipped(k.joined(separator: ", "), limit: 200))); map it with --event-map"
        case .missingReward(let e, let t):
            return
                "the reward table has no entry for event type '\(clipped(e))' (it has: \(t.joined(separator: ", "))); add one with --reward \(e)=VALUE"
        case .empty(let m): return m
        case .invalidParameter(let m): return m
        case .split(let f, let l, let m): return l.map { "\(f):\($0): \(m)" } ?? "\(f): \(m)"
        case .diverged(let s, let m, let c):
            return "training stopped at step \(s): \(m)"
                + (c.map { "; the last good checkpoint is \($0)" } ?? "; no checkpoint was written yet")
        case .model(let m): return m
        }
    }
}
