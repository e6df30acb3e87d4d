import Foundation
import RecIO
import Testing

/// `parseTimestamp` against Foundation's Gregorian calendar.
@Suite struct TimestampTests {
    @Test func againstFoundationsCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var g = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let y = Int.random(in: 1900...2100, using: &g)
            let mo = Int.random(in: 1...12, using: &g)
            let days = calendar.range(
                of: .day, in: .month, for: calendar.date(from: DateComponents(year: y, month: mo))!)!
            let d = Int.random(in: days, using: &g)
            let (h, mi, s) = (
                Int.random(in: 0..<24, using: &g), Int.random(in: 0..<60, using: &g), Int.random(in: 0..<60, using: &g)
            )
            let date = calendar.date(from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: s))!
            let text = String(format: "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, s)
            #expect(parseTimestamp(text) == date.timeIntervalSince1970, "\(text)")
            #expect(parseTimestamp(text.replacingOccurrences(of: " ", with: "T") + "Z") == date.timeIntervalSince1970)
        }
    }

    @Test func offsetsFractionsAndRefusals() {
        #expect(parseTimestamp("1970-01-01T00:00:00Z") == 0)
        #expect(parseTimestamp("1970-01-01T02:00:00+02:00") == 0)
        #expect(parseTimestamp("1969-12-31 23:30:00-00:30") == 0)
        #expect(parseTimestamp("2000-02-29 00:00:00.25") == 951_782_400.25)
        for bad in [
            "2023-02-29 00:00:00", "2000-04-31 00:00:00", "2000-13-01 00:00:00", "2000-01-01 24:00:00",
            "2000-01-01", "2000-01-01 00:00:00 ", "2000-01-01 00:00:00+2", "20000-01-01 00:00:00", "",
        ] {
            #expect(parseTimestamp(bad) == nil, "\(bad)")
        }
    }
}
