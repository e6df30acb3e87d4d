import Foundation
import RecCore
import RecIO
import Testing

@Suite struct CSVMatrixTests {
    func parse(_ s: String) throws(RecIOError) -> Matrix { try CSVMatrix.parse(Data(s.utf8), file: "t.csv") }

    @Test func readsNumbersHeadersCommentsAndCRLF() throws {
        let m = try parse("a,b,c\r\n# comment\n1, 2.5 ,-3e2\n\n4,5,6\n")
        #expect(m == Matrix([[1, 2.5, -300], [4, 5, 6]]))
        #expect(try parse("7\n8") == Matrix([[7], [8]]))
    }

    @Test func errorsNameLineAndField() {
        #expect(throws: RecIOError.malformed(file: "t.csv", line: 3, field: 2, message: "'x' is not a number")) {
            try parse("1,2\n3,4\n5,x\n")
        }
        #expect(
            throws: RecIOError.malformed(
                file: "t.csv", line: 2, field: nil, message: "3 fields, expected 2 as in the first row")
        ) { try parse("1,2\n3,4,5\n") }
        #expect(throws: RecIOError.malformed(file: "t.csv", line: 2, field: 1, message: "'nan' is not a finite number"))
        { try parse("1,2\nnan,4\n") }
        #expect(throws: RecIOError.malformed(file: "t.csv", line: 2, field: 2, message: "empty field")) {
            try parse("1,2\n3,\n")
        }
        #expect(throws: RecIOError.empty(file: "t.csv")) { try parse("h1,h2\n") }
        #expect(throws: RecIOError.empty(file: "t.csv")) { try parse("") }
        // Only the first line may be a header.
        #expect(throws: RecIOError.self) { try parse("h1,h2\nh3,h4\n1,2\n") }
        #expect(throws: RecIOError.cannotOpen(file: "/nonexistent/x.csv", reason: "no such file")) {
            try CSVMatrix.read("/nonexistent/x.csv")
        }
    }

    @Test func atomicRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-io-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.csv").path
        let m = Matrix.random(17, 5, seed: 3)
        try CSVMatrix.write(m, to: path)
        #expect(try CSVMatrix.read(path) == m)
        // Overwrite in place; no temporary files are left behind.
        try CSVMatrix.write(Matrix([[1]]), to: path)
        #expect(try CSVMatrix.read(path) == Matrix([[1]]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.csv"])
        #expect(throws: RecIOError.self) { try CSVMatrix.write(m, to: "/nonexistent-dir/m.csv") }
    }
}
