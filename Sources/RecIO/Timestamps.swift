#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Days in month `m` (1...12) of year `y` in the proleptic Gregorian calendar.
func daysInMonth(_ m: Int, year y: Int) -> Int {
    switch m {
    case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// Seconds since 1970 for `YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z|±HH:MM]` (UTC when no offset);
/// nil for anything else, a day the month does not have (2023-02-29) included.
public func parseTimestamp(_ s: String) -> Double? {
    let b = Array(s.utf8)
    return b.withUnsafeBufferPointer { parseTimestamp(bytes: $0) }
}

/// `parseTimestamp(_:)` on bytes (a field of a CSV row, without a String).
public func parseTimestamp(bytes b: UnsafeBufferPointer<UInt8>) -> Double? {
    func num(_ from: Int, _ len: Int) -> Int? {
        guard from + len <= b.count else { return nil }
        var v = 0
        for k in from..<(from + len) {
            let d = Int(b[k]) - 48
            guard d >= 0 && d <= 9 else { return nil }
            v = v * 10 + d
        }
        return v
    }
    guard b.count >= 19, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
        b[10] == 32 || b[10] == 84, let h = num(11, 2), b[13] == 58, let mi = num(14, 2), b[16] == 58,
        let sec = num(17, 2),
        (1...12).contains(mo), d >= 1, d <= daysInMonth(mo, year: y), h < 24, mi < 60, sec < 61
    else { return nil }
    var i = 19
    var frac = 0.0
    if i < b.count && b[i] == 46 {
        i += 1
        var scale = 0.1
        while i < b.count, b[i] >= 48, b[i] <= 57 {
            frac += Double(b[i] - 48) * scale
            scale /= 10
            i += 1
        }
    }
    var offset = 0
    if i < b.count {
        if b[i] == 90 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58,
            let om = num(i + 4, 2)
        {
            offset = (b[i] == 43 ? 1 : -1) * (oh * 3600 + om * 60)
            i += 6
        } else {
            return nil
        }
    }
    guard i == b.count else { return nil }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = mo <= 2 ? y - 1 : y
    let era = (yy >= 0 ? yy : yy - 399) / 400
    let yoe = yy - era * 400
    let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    return Double(days * 86400 + h * 3600 + mi * 60 + sec - offset) + frac
}
