import ArgumentParser
import Foundation
import RecKit

/// The `reckit` command (its `main` is the executable's entry point).
public struct Reckit: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "reckit",
        abstract:
            "RecKit: fast catalog scoring, offline RL for sequential recommenders, offline A/B tests of ranking policies.",
        version: RecKitInfo.version,
        subcommands: [
            Demo.self, Score.self, Marginals.self, OfflineAB.self, Simulate.self, Train.self, Evaluate.self,
            Compare.self, Tune.self, StudyCommand.self,
            RLStudy.self,
        ],
        defaultSubcommand: nil)

    public init() {}

    /// Parses the arguments and runs the command; RecKit's and the system's errors become one
    /// line on stderr and exit status 1.
    public static func main() {
        BLASHealth.reexecIfNeeded(tool: "reckit")
        ProcessTuning.keepFreedMemory()
        if let advice = BuildTarget.advice { stderrLine("reckit: note: " + advice) }
        BuildTarget.markReported()
        if let advice = BLASHealth.advice { stderrLine("reckit: note: " + advice) }
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            // Errors of RecKit and of the system become one line; the argument parser's own
            // (usage, help, validation, exit codes) keep its messages and codes.
            guard let message = errorLine(error) else {
                let code = exitCode(for: error)
                let text = fullMessage(for: error)
                if !text.isEmpty {
                    if code == .success { print(text) } else { stderrLine(text) }
                }
                finish(code.rawValue)
            }
            reportError(message)
            finish(1)
        }
        finish(0)
    }

    /// Ends the process: standard output flushed (a failed write fails the run), then `_exit`,
    /// without the libraries' destructors. OpenBLAS's shutdown joins its worker threads, and a
    /// worker that cannot map its buffer under an address-space limit (`ulimit -v`) retries for
    /// ever, so a finished run would never exit.
    static func finish(_ code: Int32) -> Never {
        requireStandardOutputWritten()
        _exit(code)
    }

    /// Results go to standard output; a write that failed there (a full disk, a closed pipe)
    /// must fail the run, not end it with status 0 and a truncated result.
    static func requireStandardOutputWritten() {
        errno = 0
        if ProcessTuning.standardOutputFailed() {
            let reason = errno != 0 ? String(cString: strerror(errno)) : "write error"
            FileHandle.standardError.write(
                Data("reckit: error: cannot write the results to standard output (\(reason))\n".utf8))
            _exit(1)
        }
    }
}

/// Options for the threading knob, shared by commands.
public struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for RecKit and OpenBLAS (default: RECKIT_THREADS or all cores).")
    public var threads: Int?

    public init() {}

    public func apply() throws {
        if let t = threads {
            guard t >= 1 && t <= Threading.maxCount else {
                throw ValidationError("--threads must be in 1...\(Threading.maxCount), got \(t)")
            }
            Threading.setCount(t)
        } else {
            do { try Threading.setCount(Threading.environmentCount() ?? Threading.count) } catch {
                throw ValidationError(error.description)
            }
        }
        // Under `ulimit -v`, OpenBLAS would hang at its first call rather than fail.
        try Threading.checkAddressSpace(threads: Threading.count)
    }
}

public func stderrLine(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Prints `reckit: error: MESSAGE` as one line: control characters in the message (a path with
/// a newline or a terminal escape in it) are escaped, so it cannot forge a second line.
/// Refuses, before the computation, output files that could not be written at its end.
func checkOutputs(_ paths: String?...) throws(RecIOError) {
    for p in paths.compactMap({ $0 }) where p != "-" { try AtomicFile.checkWritable(p) }
}

func reportError(_ message: String) { stderrLine("reckit: error: " + oneLine(message)) }

/// A size check for an option's `validate()`: a usage error naming the bytes it would take.
func checkOptionMemory(_ what: String, bytes: Int?) throws {
    do { try MemoryBudget.check(what, bytes: bytes) } catch { throw ValidationError(error.description) }
}

/// Prints `value` as pretty JSON on stdout; non-finite numbers become null with a warning.
func printJSON(_ value: some Encodable, what: String) throws {
    let (data, nonFinite) = try JSONOutput.encode(value, pretty: true, what: what)
    if let w = JSONOutput.warning(nonFinite, in: what) { stderrLine(w) }
    print(String(decoding: data, as: UTF8.self))
}

func elapsedMs(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
}

/// Converts library errors into a clean message and a non-zero exit, never a crash.
func runReporting(_ body: () throws -> Void) throws {
    do { try body() } catch let e as RecIOError {
        reportError("\(e)")
        throw ExitCode(1)
    } catch let e as RecCoreError {
        reportError("\(e)")
        throw ExitCode(1)
    } catch let e as RecOPEError {
        reportError("\(e)")
        throw ExitCode(1)
    }
}

/// One line for an error that is not the argument parser's: RecKit's typed errors as they
/// describe themselves; Foundation's file errors as "PATH: reason" (no error domains or codes);
/// anything else cut to one line. Nil for the argument parser's errors.
public func errorLine(_ error: Error) -> String? {
    switch error {
    case let e as RecIOError: return e.description
    case let e as RecCoreError: return e.description
    case let e as RecOPEError: return e.description
    case let e as RecRLError: return e.description
    case let e as RecNNError: return e.description
    case let e as MemoryBudgetError: return e.description
    case let e as CocoaError:
        let path = (e.userInfo[NSFilePathErrorKey] as? String) ?? e.userInfo[NSURLErrorKey].map { "\($0)" }
        var reason = e.localizedDescription
        if let u = e.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            reason = String(cString: strerror(Int32(u.code)))
        } else if reason.contains("NSCocoaErrorDomain") || (path.map { reason.contains($0) } ?? false) {
            switch e.code {
            case .fileNoSuchFile, .fileReadNoSuchFile: reason = "no such file"
            case .fileReadNoPermission, .fileWriteNoPermission: reason = "permission denied"
            case .fileWriteOutOfSpace: reason = "no space left on the device"
            case .fileWriteVolumeReadOnly: reason = "read-only file system"
            case .fileWriteFileExists: reason = "it already exists"
            case .fileReadCorruptFile: reason = "not in the expected format"
            default: reason = e.code.rawValue >= 512 && e.code.rawValue < 640 ? "cannot write" : "cannot read"
            }
        }
        return clipped((path.map { "\($0): " } ?? "") + reason, limit: 200)
    case let e as POSIXError: return String(cString: strerror(e.code.rawValue))
    case is EncodingError, is DecodingError: return clipped("\(error)", limit: 200)
    default: return nil
    }
}
