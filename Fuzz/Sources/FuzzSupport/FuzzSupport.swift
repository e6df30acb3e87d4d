import Foundation
import RecKit

/// Writes a fuzz input to a per-process file in memory-backed storage (the readers under test
/// take paths) and returns its path.
public func fuzzFile(_ bytes: UnsafeRawBufferPointer, suffix: String = ".csv") -> String {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = dir + "/reckit-fuzz-\(getpid())" + suffix
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if fd >= 0 {
        var off = 0
        while off < bytes.count {
            let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n <= 0 { break }
            off += n
        }
        close(fd)
    }
    return path
}

/// The input as Data.
public func fuzzData(_ start: UnsafeRawPointer, _ count: Int) -> Data { Data(bytes: start, count: count) }

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// A libFuzzer target: `@main enum FuzzX: FuzzTarget { static func fuzz(_ input: ...) { ... } }`.
/// The protocol supplies `main`, which hands `fuzz` to libFuzzer's driver (SwiftPM gives every
/// executable a Swift `main`, which would otherwise replace libFuzzer's).
public protocol FuzzTarget {
    /// Runs the parsers under test on one input; anything but a trap is a pass.
    static func fuzz(_ input: UnsafeRawBufferPointer)
}

/// The running target's `fuzz` (libFuzzer's callback is a C function and cannot capture it).
nonisolated(unsafe) private var currentTarget: ((UnsafeRawBufferPointer) -> Void)?

extension FuzzTarget {
    public static func main() {
        currentTarget = { fuzz($0) }
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(
            LLVMFuzzerRunDriver(&argc, &argv) { data, count in
                currentTarget!(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : count))
                return 0
            })
    }
}

/// The chunks of a log read through `cols` on `threads` threads in blocks of `block` bytes,
/// `maxRows` at a time, and the first error's message (nil when the log reads whole).
public func readLogChunks(_ path: String, _ cols: LogColumns, threads: Int, block: Int, maxRows: Int)
    -> ([LogChunk], String?)
{
    let reader: LogReader
    do {
        reader = try LogReader(path: path, columns: cols, parallelism: .threads(threads), blockBytes: block)
    } catch {
        return ([], "\(error)")
    }
    var out = [LogChunk]()
    do { while let c = try reader.next(maxRows: maxRows) { out.append(c) } } catch { return (out, "\(error)") }
    return (out, nil)
}

/// The log read twice, on one thread in large blocks and on three threads in 16-byte blocks,
/// `maxRows` at a time: the same first error, the same chunks with the same items, positions
/// and lines (the caller compares its other columns pair by pair). Traps otherwise.
public func readLogChunksTwice(_ path: String, _ cols: LogColumns, maxRows: Int) -> [(LogChunk, LogChunk)] {
    let (a, ea) = readLogChunks(path, cols, threads: 1, block: 2 << 20, maxRows: maxRows)
    let (b, eb) = readLogChunks(path, cols, threads: 3, block: 16, maxRows: maxRows)
    precondition(ea == eb, "errors differ: \(ea ?? "none") vs \(eb ?? "none")")
    precondition(a.count == b.count, "chunk counts differ")
    for (x, y) in zip(a, b) {
        precondition(x.items == y.items && x.positions == y.positions && x.lines == y.lines)
    }
    return Array(zip(a, b))
}
