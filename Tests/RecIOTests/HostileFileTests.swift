import Foundation
import RecCore
import RecIO
import Testing

/// Class: `--output` onto something that is not a regular file, and crash leftovers. Atomic
/// writes replace only regular files; temporaries of dead writers are cleaned up, never those of
/// a live one.
@Suite struct AtomicFileTests {
    func scratch(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(name)-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func nodesThatAreNotRegularFilesAreRefusedAndLeftAlone() throws {
        let d = try scratch("nodes")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let target = d + "/target.csv"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: d + "/link.csv", withDestinationPath: target)
        #expect(mkfifo(d + "/fifo", 0o644) == 0)
        try FileManager.default.createDirectory(atPath: d + "/dir", withIntermediateDirectories: false)
        for (path, kind) in [
            (d + "/link.csv", "a symbolic link"), (d + "/fifo", "a FIFO"), ("/dev/null", "a device"),
            (d + "/dir", "a directory"),
        ] {
            #expect {
                try AtomicFile.write(Data("new".utf8), to: path)
            } throws: { error in
                "\(error)".contains(kind) && "\(error)".hasPrefix(path + ": cannot write")
            }
        }
        // The link still links, the target is untouched, the FIFO is still a FIFO.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: d + "/link.csv") == target)
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: target)), as: UTF8.self) == "keep")
        var st = stat()
        #expect(lstat(d + "/fifo", &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO)
        // A regular file is replaced.
        try AtomicFile.write(Data("new".utf8), to: target)
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: target)), as: UTF8.self) == "new")
    }

    @Test func staleTemporariesOfDeadWritersAreRemoved() throws {
        let d = try scratch("stale")
        defer { try? FileManager.default.removeItem(atPath: d) }
        // pid_max is at most 2^22 on Linux: this writer cannot be alive. Process 1 always is.
        let dead = d + "/.last.safetensors.tmp-2147483000-17"
        let live = d + "/.last.safetensors.tmp-1-18"
        let other = d + "/.best.safetensors.tmp-2147483000-19"
        for p in [dead, live, other] { try Data("partial".utf8).write(to: URL(fileURLWithPath: p)) }
        try AtomicFile.write(Data("checkpoint".utf8), to: d + "/last.safetensors")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: d))
        #expect(!names.contains(".last.safetensors.tmp-2147483000-17"))
        #expect(names.contains(".last.safetensors.tmp-1-18"))
        #expect(names.contains(".best.safetensors.tmp-2147483000-19"))  // another destination's
        #expect(names.contains("last.safetensors"))
        #expect(AtomicFile.removeStaleTemporaries(of: d + "/best.safetensors") == 1)
    }
}

/// Class: sizes from outside checked before allocation, with the bytes they would take.
@Suite struct MemoryBudgetTests {
    @Test func productsAndSumsReportOverflow() {
        #expect(MemoryBudget.product([1 << 20, 1 << 20, 4]) == 1 << 42)
        #expect(MemoryBudget.product([1 << 62, 4]) == nil)
        #expect(MemoryBudget.product([3, -1]) == nil)
        #expect(MemoryBudget.sum([1, nil]) == nil && MemoryBudget.sum([Int.max, 1]) == nil)
        #expect(MemoryBudget.bytes(rows: 10, columns: [64, 2]) == 10 * 66 * 4)
        #expect(MemoryBudget.bytes(rows: 2, columns: [Int.max, 2]) == nil)
    }

    @Test func checkNamesTheBytes() throws {
        #expect {
            try MemoryBudget.check(
                "the catalog (--items 100000000000 × --dim 64 floats)",
                bytes: MemoryBudget.product([100_000_000_000, 64, 4]), limit: 24 << 30)
        } throws: { error in
            "\(error)"
                == "the catalog (--items 100000000000 × --dim 64 floats) would take 25.6 TB (25600000000000 bytes), "
                + "more than this machine's 25.8 GB of memory"
        }
        #expect(throws: MemoryBudgetError.self) { try MemoryBudget.check("x", bytes: nil) }
        try MemoryBudget.check("a small thing", bytes: 1 << 20)
        #expect(MemoryBudget.physicalBytes > 1 << 28)
    }
}

/// Class: numbers in checkpoint headers that do not fit the integers they become.
@Suite struct SafeTensorsHeaderNumberTests {
    func file(_ header: String, _ payload: [UInt8]) -> Data {
        let h = Array(header.utf8)
        return Data((0..<8).map { UInt8((h.count >> (8 * $0)) & 0xFF) } + h + payload)
    }

    @Test(arguments: [
        #"[4611686018427387904, 4]"#, #"[4294967296, 4294967296]"#, #"[9223372036854775807]"#, #"[1e30]"#,
        #"[-1, 2]"#, #"[2.5]"#, #"[1, 1e308]"#, #"[3037000500, 3037000500]"#,
    ])
    func shapesThatCannotBeAreTypedErrors(shape: String) {
        let d = file(
            #"{"w":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,16]}}"#, [UInt8](repeating: 0, count: 16))
        #expect {
            _ = try SafeTensors.parse(d, file: "ckpt.safetensors")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("ckpt.safetensors:") && text.contains("tensor 'w'") && !text.contains("\n")
        }
    }

    @Test func offsetsBeyondTheIntegersAreTypedErrors() {
        for offs in [#"[0, 1e300]"#, #"[-16, 0]"#, #"[9223372036854775807, 0]"#, #"[0.5, 16.5]"#] {
            let d = file(
                #"{"w":{"dtype":"F32","shape":[4],"data_offsets":"# + offs + "}}", [UInt8](repeating: 0, count: 16))
            #expect(throws: RecIOError.self) { _ = try SafeTensors.parse(d, file: "ckpt.safetensors") }
        }
    }
}

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

/// Class: JSON never carries non-finite numbers: null, counted for a warning.
@Suite struct JSONOutputTests {
    @Test func nonFiniteNumbersBecomeNull() throws {
        struct Row: Encodable {
            let name: String
            let value: Double
            let values: [Float]
        }
        let rows = [
            Row(name: "a", value: .infinity, values: [1, .nan, -.infinity]), Row(name: "inf", value: 2, values: []),
        ]
        let (data, count) = try JSONOutput.encode(rows, pretty: true)
        #expect(count == 3)
        let compact = String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace }
        #expect(compact == #"[{"name":"a","value":null,"values":[1,null,null]},{"name":"inf","value":2,"values":[]}]"#)
        #expect(JSONOutput.warning(0, in: "x") == nil)
        #expect(
            JSONOutput.warning(3, in: "r.json") == "warning: r.json: 3 non-finite values (±inf or NaN) written as null")
        _ = try JSONSerialization.jsonObject(with: data)
    }
}

/// Class: messages are one line with values cut to about 80 characters.
@Suite struct MessageTests {
    @Test func clippedValues() {
        #expect(clipped("short") == "short")
        #expect(clipped("a\nb\tc\u{1}") == "a\\nb\\tc\\u{1}")
        let long = clipped(String(repeating: "é", count: 100_000))
        #expect(long.count < 110 && long.hasSuffix("… (100000 characters)"))
        #expect(clipped(String(repeating: "x", count: 80)) == String(repeating: "x", count: 80))
    }
}
