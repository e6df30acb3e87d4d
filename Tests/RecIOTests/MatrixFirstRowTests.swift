import Foundation
import RecCore
import RecIO
import Testing

/// Class: a byte-order mark or quoted numbers on the first row of a headerless matrix: data,
/// not a header (which would shift every item index by one); a first row that mixes numbers
/// and text is an error.
@Suite struct MatrixFirstRowTests {
    @Test(arguments: [
        "\u{FEFF}1,2\n3,4\n", "\"1\",\"2\"\n3,4\n", "\u{FEFF}\"1\", \"2\"\r\n3,4\r\n", " \"1\" ,2\n\"3\",4\n",
    ])
    func firstRowIsData(text: String) throws {
        let m = try CSVMatrix.parse(Data(text.utf8), file: "m.csv")
        #expect(m.rows == 2 && m.storage == [1, 2, 3, 4])
    }

    @Test func headersStillAreHeaders() throws {
        for text in ["\u{FEFF}a,b\n1,2\n", "\"x0\",\"x1\"\n1,2\n", "score\n1\n"] {
            let m = try CSVMatrix.parse(Data(text.utf8), file: "m.csv")
            #expect(m.rows == 1, "\(text)")
        }
    }

    @Test func mixedFirstRowIsAnError() {
        #expect(
            throws: RecIOError.malformed(
                file: "m.csv", line: 1, field: 2,
                message: "'abc' is not a number (the first row mixes numbers and text: neither a header nor a data row)"
            )
        ) {
            _ = try CSVMatrix.parse(Data("1.5,abc\n2,3\n".utf8), file: "m.csv")
        }
        #expect(
            throws: RecIOError.malformed(
                file: "m.csv", line: 2, field: 1, message: "'1e39' is beyond Float's range (|x| ≤ 3.4e38)")
        ) {
            _ = try CSVMatrix.parse(Data("a\n1e39\n".utf8), file: "m.csv")
        }
    }

    @Test func longFieldsAreCutInMessages() {
        let long = String(repeating: "x", count: 100_000)
        #expect {
            _ = try CSVMatrix.parse(Data("1\n\(long)\n".utf8), file: "m.csv")
        } throws: { error in
            let text = "\(error)"
            return text.count < 200 && text.contains("(100000 characters)")
        }
    }

    @Test func eventLogHeadersLoseTheirByteOrderMark() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bom-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("\u{FEFF}session,item\nu1,7\n".utf8).write(to: URL(fileURLWithPath: path))
        let r = try CSVReader(path: path)
        #expect(try r.next() && r.string(0) == "session")
    }
}
