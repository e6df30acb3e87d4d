import Foundation
import RecIO
import Testing

/// The streaming CSV reader: quoting, line endings, empty rows, numbers.
@Suite struct CSVReaderTests {
    func rows(_ text: String) throws -> [[String]] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString).csv").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try CSVReader(path: path)
        var out = [[String]]()
        while try r.next() { out.append((0..<r.count).map { r.string($0) }) }
        return out
    }

    @Test func quotedFields() throws {
        #expect(
            try rows("a,\"b,c\",\"say \"\"hi\"\"\"\n\"\",x,\"\"\"\"\n")
                == [["a", "b,c", "say \"hi\""], ["", "x", "\""]])
    }

    @Test func lineEndingsAndEmptyRows() throws {
        let expected = [["1", "2"], ["3", "4"]]
        #expect(try rows("1,2\r\n3,4\r\n") == expected)
        #expect(try rows("1,2\n\n\r\n3,4") == expected)  // empty rows skipped, no final newline
        #expect(try rows("1,2\r\n3,\"4\"\r\n") == expected)
    }

    @Test func unterminatedQuoteNamesTheLine() throws {
        #expect {
            _ = try rows("a,b\nc,\"d\n")
        } throws: { error in
            guard case .malformed(_, let line, _, let message) = error as? RecIOError else { return false }
            return line == 2 && message.contains("unterminated quote")
        }
    }

    @Test func numbers() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("n-\(UUID().uuidString).csv").path
        try Data("1.5,-2e3,x,,7\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try CSVReader(path: path)
        #expect(try r.next())
        #expect(r.double(0) == 1.5 && r.double(1) == -2000 && r.double(2) == nil && r.double(3) == nil)
        #expect(r.int(4) == 7 && r.int(0) == nil)
    }
}
