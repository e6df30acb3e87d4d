#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Sizes that come from outside (command-line options, file headers) are checked against the
/// machine's memory before anything is allocated: a request that cannot fit is refused with the
/// bytes it would take, instead of a trap in the allocator or a machine swapping for an hour.
public enum MemoryBudget {
    /// Physical memory in bytes (`sysconf`), or `Int.max` where it cannot be read.
    public static let physicalBytes: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return .max }
        let (b, o) = pages.multipliedReportingOverflow(by: size)
        return o ? .max : b
    }()

    /// The product of the factors, or nil when it does not fit an `Int` (or a factor is negative).
    public static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, o) = p.multipliedReportingOverflow(by: f)
            if o { return nil }
            p = r
        }
        return p
    }

    /// The sum of the terms, nil when one is nil or the sum overflows.
    public static func sum(_ terms: [Int?]) -> Int? {
        var s = 0
        for t in terms {
            guard let t else { return nil }
            let (r, o) = s.addingReportingOverflow(t)
            if o { return nil }
            s = r
        }
        return s
    }

    /// Bytes of `rows` rows of 4-byte values, each row the sum of `columns` (nil on overflow).
    public static func bytes(rows: Int, columns: [Int]) -> Int? {
        sum(columns.map { product([rows, $0, 4]) })
    }

    /// Throws unless `bytes` (nil: beyond `Int`) fits the machine's physical memory.
    /// - Parameters:
    ///   - what: what would be allocated, with the sizes it comes from, e.g.
    ///     "the catalog (--items 100000000000 × --dim 64 floats)".
    ///   - bytes: the bytes it would take; nil when the count overflowed `Int`.
    ///   - limit: the bytes allowed (default: the machine's physical memory).
    public static func check(_ what: String, bytes: Int?, limit: Int = physicalBytes) throws(MemoryBudgetError) {
        if let bytes, bytes <= limit { return }
        throw MemoryBudgetError(what: what, bytes: bytes, limit: limit)
    }

    /// "25.6 GB" style (decimal units), or "more than 9.2 EB" for nil.
    public static func format(_ bytes: Int?) -> String {
        guard let bytes else { return "more than 9.2 EB" }
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        var v = Double(bytes)
        var u = 0
        while v >= 1000 && u < units.count - 1 {
            v /= 1000
            u += 1
        }
        return u == 0 ? "\(bytes) bytes" : cFormat("%.1f ", v) + units[u]
    }
}

/// A size from outside that would not fit in memory.
public struct MemoryBudgetError: Error, Equatable, CustomStringConvertible {
    /// What would be allocated, with the sizes it comes from.
    public let what: String
    /// The bytes needed (nil: beyond `Int`).
    public let bytes: Int?
    /// The bytes allowed (the machine's physical memory).
    public let limit: Int

    public var description: String {
        "\(what) would take \(MemoryBudget.format(bytes))\(bytes.map { " (\($0) bytes)" } ?? ""), more than "
            + "this machine's \(MemoryBudget.format(limit)) of memory"
    }
}
