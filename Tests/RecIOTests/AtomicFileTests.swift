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

    /// Files written together are replaced together or not at all: when the second cannot be
    /// written, the first keeps its old content and no temporary is left.
    @Test func filesWrittenTogetherAreAllOrNothing() throws {
        let d = try scratch("together")
        defer { try? FileManager.default.removeItem(atPath: d) }
        let a = d + "/last.safetensors"
        let b = d + "/best.safetensors"
        try Data("old a".utf8).write(to: URL(fileURLWithPath: a))
        try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: false)  // unwritable
        #expect(throws: RecIOError.self) {
            try AtomicFile.write([(Data("new a".utf8), a), (Data("new b".utf8), b)])
        }
        #expect(try String(contentsOfFile: a, encoding: .utf8) == "old a")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: d).sorted() == ["best.safetensors", "last.safetensors"])
        try FileManager.default.removeItem(atPath: b)
        try AtomicFile.write([(Data("new a".utf8), a), (Data("new b".utf8), b)])
        #expect(try String(contentsOfFile: a, encoding: .utf8) == "new a")
        #expect(try String(contentsOfFile: b, encoding: .utf8) == "new b")
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
